// session_fuzz: libFuzzer over a whole public connection -- raw bytes through
// the real WsSession (HTTP request parsing, the WebSocket upgrade, frame
// parsing, the message limits and every op handler) over Beast's in-memory
// test::stream, with real Services: a real SQLite database in a temporary
// directory on the real storage thread, the real relay hub and admission.
// Built with clang, ASan and UBSan (HEARTH_FUZZ=ON).
//
// The first input byte picks how the rest reaches the session:
//   bit 0     -- prepend a valid upgrade request (else the bytes are the
//                whole HTTP exchange, health checks and 404s included);
//   bit 1     -- cut the rest at each '\n' and send every piece as one
//                masked text frame (else the rest is raw WebSocket bytes);
//   bits 2-4  -- how many bytes each read may return (1, 2, 7, 64, 512,
//                4096, 65536 or all), so every parser resumes mid-token.
// The peer then closes; the session must end on its own with nothing left
// behind. Beyond "no crash": it traps when a connection does not end, or its
// admission ticket or byte budget is not given back.
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "crypto/keys.h"
#include "crypto/sodium_init.h"
#include "server/admission.h"
#include "server/services.h"
#include "server/ws_session.h"
#include "storage/storage.h"
#include "storage/storage_thread.h"
#include "tests/support/test_support.h"
#include "triage/rules.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace hearth;
using FuzzSession = server::WsSession<beast::test::stream>;

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

// Failed-login budgets the fuzzer never empties.
server::Limits login_budgets() {
  server::Limits l;
  l.failed_logins_per_second = l.repeat_failed_logins_per_second = 100000;
  l.failed_login_burst = l.repeat_failed_login_burst = 1000000;
  return l;
}

server::PowConfig pow_config() {
  server::PowConfig c;
  c.effort = 1;
  c.max_effort = 1;
  return c;
}

// Everything a session shares, built once: the database grows across inputs
// as a real server's would.
struct World {
  test::TempDir dir;
  server::Config config;
  SystemClock clock;
  server::Metrics metrics;
  server::RelayHub hub{clock};
  server::PowState pow{pow_config(), 1000, 100, clock};  // the fuzzer can meet the effort
  std::atomic<bool> draining{false};
  server::PrekeyReservations reservations;
  server::FailedLoginBudget responder_login_failures{
      login_budgets(), std::chrono::steady_clock::now().time_since_epoch()};
  server::FailedLoginBudget vault_login_failures{
      login_budgets(), std::chrono::steady_clock::now().time_since_epoch()};
  std::unique_ptr<storage::StorageThread> storage;
  std::unique_ptr<server::Admission> admission;
  std::unique_ptr<server::Services> services;

  World() {
    crypto::ensure_initialized();
    config.data_dir = dir.path();
    // Limits that never make the fuzzer wait on a clock.
    config.limits.frames_per_second = 10000;
    config.limits.frame_burst = 100000;
    config.limits.read_bytes_per_second = 1024ULL * 1024 * 1024;
    config.limits.read_burst_bytes = 1024ULL * 1024 * 1024;
    config.limits.handshake_timeout = std::chrono::seconds(1);
    storage::StorageOptions options;
    options.database_path = dir.path() / "hearth.db";
    options.key_path = dir.path() / "master.key";
    auto opened = storage::Storage::open(options);
    check(opened.is_ok());
    storage =
        std::make_unique<storage::StorageThread>(std::move(*opened), storage::GroupCommitOptions{});
    auto rules = triage::parse_rules(triage::default_rules_json());
    check(rules.is_ok());
    hub.set_rules(std::move(*rules));
    admission = std::make_unique<server::Admission>(config.limits, metrics);
    services = std::make_unique<server::Services>(server::Services{
        config, hub, *storage, metrics, pow, clock, crypto::SigningKey::generate().public_key(),
        draining, reservations, responder_login_failures, vault_login_failures, *admission});
  }
};

World& world() {
  static World* w = new World();  // never destroyed: libFuzzer exits without unwinding
  return *w;
}

constexpr std::size_t kReadSizes[] = {1, 2, 7, 64, 512, 4096, 65536, 1 << 30};

const std::string kUpgrade =
    "GET /v1/ws HTTP/1.1\r\nHost: hearth\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// One masked text frame (key 0: the payload goes on the wire as it is).
std::string text_frame(std::string_view text) {
  std::string h;
  h += static_cast<char>(0x81);
  if (text.size() < 126) {
    h += static_cast<char>(0x80 | text.size());
  } else if (text.size() < 65536) {
    h += static_cast<char>(0x80 | 126);
    h += static_cast<char>(text.size() >> 8);
    h += static_cast<char>(text.size() & 0xff);
  } else {
    h += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) h += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  }
  h += std::string(4, '\0');
  h += text;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  World& w = world();
  const std::uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string wire;
  if (mode & 1) wire = kUpgrade;
  if (mode & 2) {
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      wire += text_frame(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  } else {
    wire.append(rest);
  }

  {
    asio::io_context io;
    beast::test::stream local(io);
    beast::test::stream remote(io);
    local.connect(remote);
    local.read_size(kReadSizes[(mode >> 2) & 7]);
    remote.write_size(1 << 30);
    asio::write(remote, asio::buffer(wire));
    remote.close();  // the peer is done: after the bytes, end of stream

    auto session =
        std::make_shared<FuzzSession>(*w.services, asio::make_strand(io), std::move(local));
    FuzzSession::start(session);
    session.reset();
    // Runs until the session has ended and every storage job it started is
    // done. Pending timers (a close's abort) are dropped with io.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (w.metrics.connections_open.load() > 0 || w.metrics.storage_jobs_in_flight.load() > 0) {
      io.run_one_for(std::chrono::milliseconds(5));
      check(std::chrono::steady_clock::now() < deadline);  // a connection that never ends
    }
  }
  // Everything was given back.
  check(w.metrics.handshakes_open.load() == 0);
  check(w.metrics.anonymous_open.load() == 0);
  check(w.metrics.survivors_open.load() == 0);
  check(w.metrics.responders_open.load() == 0);
  check(w.admission->buffered() == 0);
  return 0;
}

// loadgen: hearthd under N survivors and M responders, measured where a person
// is: a message counts when its recipient has it.
//
// Relay mode (the default). A real hearthd on loopback (tests/integration's
// HearthdProcess, with the limits below lifted for the run) and an org with
// M certified responders (TestOrg). Each responder logs in, uploads its
// prekeys and sets its presence; each survivor solves the route's
// proof-of-work, opens a case with a new vault (the integration tests'
// flows), and a responder takes it (take_next): case k goes to responder
// k mod M. Then every survivor connection sends messages to its responder,
// one request in flight (the next only after the committed reply), flat out or
// at --rate per survivor. Each body is a real Double Ratchet message
// (crypto::Ratchet, as a client seals it: a 1,000-byte plaintext padded to the
// 1 KiB bucket, 1,105 bytes on the wire); the responder's connection decrypts
// it, and only then does it count as received, and acknowledges it at once
// (pipelined, not waiting for the ack's reply). It reports messages/s
// RECEIVED over the time to the last receipt, end-to-end latency (send ->
// the responder decrypted it) p50/p99/p99.9, send -> committed reply, errors,
// hearthd's commits per message (its /metrics), and a progress line a second.
// The survivor's vault write that a real client sends with each message is
// left out: the payload is the same 1 KiB for every server side by side.
//
// Idle mode (--idle N): N upgraded WebSocket connections that do nothing;
// hearthd's resident set before and after, per connection. hearthd's limits
// are raised for the run (max_connections, max_anonymous_connections,
// anonymous_lifetime, max_handshakes) and said; the open-files limit is raised
// to its hard limit. A connection refused or closed by the server fails the
// run with the reason; nothing waits without a deadline.
//
// Last line (relay): "RESULT received=... seconds=... rate=... p50_ms=...
// p99_ms=... p999_ms=... errors=... commits_per_msg=... window=START,END"
// (the window in Unix seconds, for counting fsyncs in a strace log);
// bench/side_by_side.sh reads it. docs/performance.md records the figures.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crypto/random.h"
#include "crypto/ratchet.h"
#include "protocol/codec.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/integration/support/test_org.h"
#include "tests/integration/support/ws_client.h"

namespace {

using namespace hearth;
using Steady = std::chrono::steady_clock;
using nlohmann::json;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "loadgen: %s\n", why.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// utime + stime of a process, in seconds (-1: unreadable).
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt (fields 3-13)
  double utime = 0, stime = 0;
  fields >> utime >> stime;
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// hearth_storage_commits_total from hearthd's metrics endpoint (-1: unreadable).
double commits_total(std::uint16_t metrics_port) {
  try {
    auto r = test::http_get(metrics_port, "/metrics");
    const std::string key = "\nhearth_storage_commits_total ";
    auto at = r.body.find(key);
    if (at == std::string::npos) return -1;
    return std::stod(r.body.substr(at + key.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

void require_ok(const json& reply, const std::string& what) {
  if (const std::string code = test::error_code(reply); !code.empty())
    die(what + " refused: " + code + " " + reply.dump());
}

constexpr std::size_t kPlaintextBytes = 1000;  // padded to the 1 KiB bucket

// One case: the survivor's connection and sending ratchet, the receiving
// responder's ratchet (used only by that responder's thread).
struct Pair {
  std::unique_ptr<test::WsClient> survivor;
  Bytes case_id;
  std::optional<crypto::Ratchet> sending;
  std::optional<crypto::Ratchet> receiving;
  std::size_t responder = 0;
};

struct Stats {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> errors{0};
  std::mutex mu;
  std::vector<double> e2e_ms;   // send -> the responder decrypted it
  std::vector<double> send_ms;  // send -> committed reply
  std::atomic<std::int64_t> last_receipt_ns{0};
};

struct RelayOptions {
  int survivors = 16;
  int responders = 1;
  int messages = 200;
  double rate = 0;  // per survivor, messages/s; 0: flat out
  double timeout_s = 120;
  bool quiet = false;
};

void run_relay(const RelayOptions& o) {
  if (o.responders > o.survivors) die("--responders must not exceed --survivors");
  const int per_responder = (o.survivors + o.responders - 1) / o.responders;
  if (per_responder > 50) die("a responder takes at most 50 cases: add responders");
  test::TestOrg org;
  for (int r = 0; r < o.responders; ++r)
    org.add_responder("r" + std::to_string(r), {"shelter"}, std::nullopt, std::nullopt,
                      static_cast<std::size_t>(per_responder) + 2);
  // Lifted for the run, so it measures the relay and not the throttles: the
  // per-connection frame and byte budgets, and the connection count.
  json limits = {{"frames_per_second", 10000},
                 {"frame_burst", 100000},
                 {"logged_in_read_bytes_per_second", 1u << 30},
                 {"logged_in_read_burst_bytes", 1u << 30},
                 {"max_connections", o.survivors + o.responders + 1000},
                 {"max_anonymous_connections", o.survivors + 500},
                 {"max_connections_per_responder", 8}};
  test::HearthdProcess hearthd(org, json{{"limits", limits}});
  try {
    hearthd.start();
  } catch (const std::exception& e) {
    die(std::string("hearthd did not start: ") + e.what());
  }
  std::printf(
      "hearthd pid %d port %u; %d survivors -> %d responders, %d messages each, %s\n"
      "limits lifted for the run: frames_per_second, frame_burst, "
      "logged_in_read_bytes_per_second/burst 1 GiB, max_connections %d\n",
      hearthd.pid(), hearthd.port(), o.survivors, o.responders, o.messages,
      o.rate > 0 ? (std::to_string(o.rate) + "/s per survivor").c_str() : "flat out",
      o.survivors + o.responders + 1000);
  std::fflush(stdout);

  // Set-up: responder r logs in just before its first case, so the route
  // offers the case to it; once full it goes away (no longer offered new
  // cases; its own still reach it).
  std::vector<std::unique_ptr<test::WsClient>> responders;
  std::vector<Pair> pairs(static_cast<std::size_t>(o.survivors));
  const auto setup_start = Steady::now();
  try {
    for (int k = 0; k < o.survivors; ++k) {
      const auto r = static_cast<std::size_t>(k % o.responders);
      auto& responder = org.responders[r];
      if (r == responders.size()) {
        responders.push_back(test::WsClient::connect(hearthd.port()));
        require_ok(test::responder_login(*responders[r], responder), "responder_login");
        require_ok(test::upload_prekeys(*responders[r], responder), "upload_prekeys");
      }
      auto& ws = *responders[r];
      require_ok(ws.call(protocol::PresenceRequest{protocol::Presence::kAvailable,
                                                   static_cast<std::uint32_t>(per_responder)}),
                 "presence");
      Pair& p = pairs[static_cast<std::size_t>(k)];
      p.responder = r;
      p.survivor = test::WsClient::connect(hearthd.port());
      auto routed = test::route(*p.survivor, test::envelope_for(protocol::Need::kShelter));
      require_ok(routed, "route");
      auto survivor = test::TestSurvivor::make();
      require_ok(test::open_case(*p.survivor, routed, &survivor, "intake"), "open_case");
      p.case_id = test::take_case(ws);
      if (p.case_id != test::b64(routed["case"]))
        die("responder " + std::to_string(r) + " was handed another case than the one opened");
      if (k + o.responders >= o.survivors)  // its last case: offer it no more
        require_ok(ws.call(protocol::PresenceRequest{protocol::Presence::kAway, 1}), "presence");
      // The ratchet pair (the key agreement itself is X3DH in a real client).
      auto shared = crypto::random_secret(32);
      auto spk = crypto::DhKey::generate();
      const auto spk_public = spk.public_key();
      auto sending = crypto::Ratchet::init_initiator(shared.clone(), p.case_id, spk_public);
      if (!sending.is_ok()) die("ratchet: " + sending.status().to_string());
      p.sending.emplace(std::move(sending).value());
      p.receiving.emplace(
          crypto::Ratchet::init_responder(std::move(shared), p.case_id, std::move(spk)));
    }
  } catch (const std::exception& e) {
    die(std::string("set-up failed: ") + e.what());
  }
  std::printf("set-up: %d cases opened and taken in %.1f s\n", o.survivors,
              std::chrono::duration<double>(Steady::now() - setup_start).count());

  // hearthd's own pid: under a wrapper (HEARTH_TEST_WRAPPER=strace ...) the
  // wrapper's child.
  pid_t server_pid = hearthd.pid();
  if (std::getenv("HEARTH_TEST_WRAPPER") != nullptr) {
    std::ifstream children("/proc/" + std::to_string(server_pid) + "/task/" +
                           std::to_string(server_pid) + "/children");
    if (pid_t child = 0; children >> child) server_pid = child;
  }
  const double server_cpu_before = cpu_seconds(server_pid);
  const double own_cpu_before = own_cpu_seconds();
  Stats stats;
  const std::uint64_t total =
      static_cast<std::uint64_t>(o.survivors) * static_cast<std::uint64_t>(o.messages);
  const double commits_before = commits_total(hearthd.metrics_port());
  std::atomic<bool> stop{false};
  const double window_start = unix_now();
  const auto t0 = Steady::now();

  // Receivers: one thread per responder connection.
  std::vector<std::thread> receivers;
  for (std::size_t r = 0; r < responders.size(); ++r) {
    receivers.emplace_back([&, r] {
      test::WsClient& ws = *responders[r];
      std::map<Bytes, Pair*> cases;
      std::uint64_t expected = 0;
      for (auto& p : pairs)
        if (p.responder == r) {
          cases[p.case_id] = &p;
          expected += static_cast<std::uint64_t>(o.messages);
        }
      std::uint64_t got = 0;
      std::uint64_t acks_out = 0;
      std::uint64_t acks_back = 0;
      std::vector<double> mine;
      std::uint32_t id = 1u << 20;
      auto lookup = [](std::uint32_t) -> std::optional<protocol::Op> { return protocol::Op::kAck; };
      while ((got < expected || acks_back < acks_out) && !stop) {
        // A timed-out read gives the connection up (WsClient), so the wait is
        // long: past it, the messages are lost and the run fails.
        test::WsFrame frame = ws.read(std::chrono::seconds(30));
        if (!frame.is_text()) {
          stats.errors++;
          std::fprintf(stderr, "loadgen: responder %zu: %s\n", r,
                       frame.kind == test::WsFrame::Kind::kTimeout
                           ? "no frame in 30 s"
                           : ("connection ended, close code " + std::to_string(frame.close_code) +
                              " " + frame.text)
                                 .c_str());
          break;
        }
        auto decoded = protocol::decode_server_frame(frame.text, lookup);
        if (auto* err = std::get_if<protocol::ProtocolError>(&decoded)) {
          stats.errors++;
          std::fprintf(stderr, "loadgen: undecodable frame: %s\n", err->message.c_str());
          continue;
        }
        auto& server_frame = std::get<protocol::ServerFrame>(decoded);
        if (auto* reply = std::get_if<protocol::ReplyFrame>(&server_frame)) {
          acks_back++;
          if (std::holds_alternative<protocol::ProtocolError>(reply->result)) stats.errors++;
          continue;
        }
        auto& event = std::get<protocol::EventFrame>(server_frame).event;
        auto* env = std::get_if<protocol::EnvelopeEvent>(&event);
        if (env == nullptr || env->kind != protocol::EnvelopeKind::kMessage) continue;
        auto it = cases.find(env->case_id);
        if (it == cases.end()) {
          stats.errors++;
          continue;
        }
        auto plain = it->second->receiving->decrypt(env->body);
        const auto now = Steady::now();
        if (!plain.is_ok() || plain->size() < 8) {
          stats.errors++;
        } else {
          std::int64_t sent_ns = 0;
          std::memcpy(&sent_ns, plain->data(), 8);
          mine.push_back(static_cast<double>(now.time_since_epoch().count() - sent_ns) / 1e6);
          got++;
          stats.received++;
          std::int64_t prev = stats.last_receipt_ns.load();
          const std::int64_t at = now.time_since_epoch().count();
          while (prev < at && !stats.last_receipt_ns.compare_exchange_weak(prev, at)) {
          }
        }
        // Acknowledged at once, as a client that has it does.
        ws.send_text(protocol::encode(
            protocol::RequestFrame{id++, protocol::AckRequest{env->case_id, env->seq}}));
        acks_out++;
      }
      std::lock_guard lock(stats.mu);
      stats.e2e_ms.insert(stats.e2e_ms.end(), mine.begin(), mine.end());
    });
  }

  // Senders: one thread per survivor connection, one request in flight.
  std::vector<std::thread> senders;
  senders.reserve(pairs.size());
  for (auto& pair : pairs) {
    senders.emplace_back([&, p = &pair] {
      std::vector<double> mine;
      Bytes plaintext(kPlaintextBytes);
      const auto start = Steady::now();
      for (int m = 0; m < o.messages && !stop; ++m) {
        if (o.rate > 0)
          std::this_thread::sleep_until(start + std::chrono::duration_cast<Steady::duration>(
                                                    std::chrono::duration<double>(m / o.rate)));
        const auto sent = Steady::now();
        const std::int64_t ns = sent.time_since_epoch().count();
        std::memcpy(plaintext.data(), &ns, 8);
        auto body = p->sending->encrypt(plaintext);
        if (!body.is_ok()) die("encrypt: " + body.status().to_string());
        json reply;
        try {
          reply =
              p->survivor->call(protocol::SendRequest{p->case_id, std::move(*body), std::nullopt},
                                std::chrono::seconds(30));
        } catch (const std::exception& e) {
          stats.errors++;
          std::fprintf(stderr, "loadgen: send failed: %s\n", e.what());
          return;
        }
        if (!test::error_code(reply).empty()) {
          stats.errors++;
          continue;
        }
        stats.sent++;
        mine.push_back(std::chrono::duration<double, std::milli>(Steady::now() - sent).count());
      }
      std::lock_guard lock(stats.mu);
      stats.send_ms.insert(stats.send_ms.end(), mine.begin(), mine.end());
    });
  }

  // Progress, once a second, until every message is in or the deadline.
  std::uint64_t last = 0;
  const auto deadline =
      t0 + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(o.timeout_s));
  auto next_line = t0 + std::chrono::seconds(1);
  while (stats.received < total) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Steady::now() < next_line) continue;
    next_line += std::chrono::seconds(1);
    const std::uint64_t now_received = stats.received;
    if (!o.quiet)
      std::printf("  %5.1f s  received %8llu (%6llu/s)  sent %8llu  errors %llu\n",
                  std::chrono::duration<double>(Steady::now() - t0).count(),
                  static_cast<unsigned long long>(now_received),
                  static_cast<unsigned long long>(now_received - last),
                  static_cast<unsigned long long>(stats.sent.load()),
                  static_cast<unsigned long long>(stats.errors.load()));
    std::fflush(stdout);
    last = now_received;
    if (Steady::now() > deadline) {
      std::printf("deadline: %llu of %llu messages received in %.0f s; stopping\n",
                  static_cast<unsigned long long>(now_received),
                  static_cast<unsigned long long>(total), o.timeout_s);
      stop = true;
      break;
    }
  }
  for (auto& t : senders) t.join();
  for (auto& t : receivers) t.join();
  const double window_end = unix_now();
  const double commits_after = commits_total(hearthd.metrics_port());
  const double server_cpu = cpu_seconds(server_pid) - server_cpu_before;
  const double own_cpu = own_cpu_seconds() - own_cpu_before;

  const double seconds =
      static_cast<double>(stats.last_receipt_ns - t0.time_since_epoch().count()) / 1e9;
  const auto received = stats.received.load();
  const double rate = seconds > 0 ? static_cast<double>(received) / seconds : 0;
  const double commits_per_msg =
      (commits_before >= 0 && commits_after >= 0 && received > 0)
          ? (commits_after - commits_before) / static_cast<double>(received)
          : -1;
  std::printf("received %llu of %llu in %.2f s: %.0f messages/s\n",
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(total),
              seconds, rate);
  std::printf("  send -> recipient has it: p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
              percentile(stats.e2e_ms, 0.5), percentile(stats.e2e_ms, 0.99),
              percentile(stats.e2e_ms, 0.999));
  std::printf("  send -> committed reply:  p50 %.2f ms  p99 %.2f ms\n",
              percentile(stats.send_ms, 0.5), percentile(stats.send_ms, 0.99));
  std::printf("  hearthd commits per received message (its /metrics): %.3f\n", commits_per_msg);
  std::printf("  CPU during the relay: hearthd %.2f s (%.0f us per message), loadgen %.2f s\n",
              server_cpu, received ? server_cpu * 1e6 / static_cast<double>(received) : 0.0,
              own_cpu);
  std::printf("  errors %llu\n", static_cast<unsigned long long>(stats.errors.load()));
  std::printf(
      "RESULT received=%llu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
      "errors=%llu commits_per_msg=%.3f server_cpu_us=%.0f client_cpu_s=%.2f window=%.6f,%.6f\n",
      static_cast<unsigned long long>(received), seconds, rate, percentile(stats.e2e_ms, 0.5),
      percentile(stats.e2e_ms, 0.99), percentile(stats.e2e_ms, 0.999),
      static_cast<unsigned long long>(stats.errors.load()), commits_per_msg,
      received ? server_cpu * 1e6 / static_cast<double>(received) : 0.0, own_cpu, window_start,
      window_end);
  std::fflush(stdout);
  // Stopped here, so a tool wrapping it (strace) writes its log out: SIGTERM
  // goes to hearthd itself, then the wrapper exits with it.
  try {
    if (server_pid != hearthd.pid()) ::kill(server_pid, SIGTERM);
    hearthd.terminate();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: stopping hearthd: %s\n", e.what());
  }
  if (received < total || stats.errors > 0) die("not every message arrived, or errors");
  // Survivors' and responders' connections close with their clients.
}

// ---- Idle connections ----

// A TCP connection to 127.0.0.1:port upgraded to a WebSocket, then left alone.
// Fails (with the reason) on refusal, a non-101 answer or no answer in 10 s.
int open_idle(std::uint16_t port, std::string& why) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    why = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  const std::string upgrade =
      "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(upgrade.size())) {
    why = std::string("send: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  std::string answer;
  char buf[1024];
  while (answer.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      why = n == 0 ? "closed by hearthd during the upgrade"
                   : std::string("no upgrade answer: ") + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    answer.append(buf, static_cast<std::size_t>(n));
  }
  if (answer.rfind("HTTP/1.1 101", 0) != 0) {
    why = "upgrade refused: " + answer.substr(0, answer.find("\r\n"));
    ::close(fd);
    return -1;
  }
  return fd;
}

// How many of `fds` hearthd has closed (EOF or a close frame waiting).
std::size_t closed_by_server(const std::vector<int>& fds, std::string& first_reason) {
  std::vector<pollfd> pfds;
  pfds.reserve(fds.size());
  for (int fd : fds) pfds.push_back({fd, POLLIN | POLLRDHUP, 0});
  ::poll(pfds.data(), pfds.size(), 0);
  std::size_t closed = 0;
  for (const auto& p : pfds) {
    if (p.revents == 0) continue;
    ++closed;
    if (first_reason.empty()) {
      unsigned char frame[64];
      ssize_t n = ::recv(p.fd, frame, sizeof frame, MSG_DONTWAIT);
      if (n >= 4 && (frame[0] & 0x0f) == 0x8)
        first_reason = "close frame, code " + std::to_string((frame[2] << 8) | frame[3]);
      else
        first_reason = n == 0 ? "connection closed without a close frame" : "unexpected data";
    }
  }
  return closed;
}

void run_idle(int count, int max_connections, bool quiet) {
  if (max_connections == 0) max_connections = count + 200;
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  const rlim_t want = static_cast<rlim_t>(count) + 1000;
  if (nofile.rlim_cur < want) {
    nofile.rlim_cur = std::min(nofile.rlim_max, want);
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (nofile.rlim_cur < want)
    die("open-files limit " + std::to_string(nofile.rlim_cur) + " (hard " +
        std::to_string(nofile.rlim_max) + ") is below the " + std::to_string(want) +
        " needed for " + std::to_string(count) + " connections: raise it (ulimit -Hn)");
  test::TestOrg org;
  // Raised for the run: every idle connection is anonymous (not logged in).
  json limits = {{"max_connections", max_connections},
                 {"max_anonymous_connections", count + 100},
                 {"anonymous_lifetime_seconds", 3600},
                 {"reserved_responder_connections", 100}};
  test::HearthdProcess hearthd(org, json{{"limits", limits}});
  try {
    hearthd.start();
  } catch (const std::exception& e) {
    die(std::string("hearthd did not start: ") + e.what());
  }
  std::printf(
      "hearthd pid %d; open-files limit %llu (inherited by hearthd); limits for the run: "
      "max_connections %d, max_anonymous_connections %d, anonymous_lifetime 3600 s\n",
      hearthd.pid(), static_cast<unsigned long long>(nofile.rlim_cur), max_connections,
      count + 100);
  // A warm-up connection, so the first one's allocations are not counted.
  std::string why;
  int warm = open_idle(hearthd.port(), why);
  if (warm < 0) die("warm-up connection: " + why);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const long before = rss_kib(hearthd.pid());
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(count));
  const auto t0 = Steady::now();
  for (int i = 0; i < count; ++i) {
    int fd = open_idle(hearthd.port(), why);
    if (fd < 0) {
      std::string reason;
      const std::size_t closed = closed_by_server(fds, reason);
      die("connection " + std::to_string(i + 1) + " of " + std::to_string(count) + ": " + why +
          (closed
               ? "; hearthd had closed " + std::to_string(closed) + " earlier ones (" + reason + ")"
               : ""));
    }
    fds.push_back(fd);
    if (!quiet && (i + 1) % 1000 == 0) {
      std::printf("  %5.1f s  %d connections open, hearthd RSS %ld KiB\n",
                  std::chrono::duration<double>(Steady::now() - t0).count(), i + 1,
                  rss_kib(hearthd.pid()));
      std::fflush(stdout);
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long after = rss_kib(hearthd.pid());
  std::string reason;
  if (std::size_t closed = closed_by_server(fds, reason); closed > 0)
    die("hearthd closed " + std::to_string(closed) + " of the " + std::to_string(count) +
        " idle connections (" + reason + ")");
  const double per = static_cast<double>(after - before) * 1024.0 / count;
  std::printf("idle: hearthd RSS %ld KiB, %ld KiB with %d idle WebSockets: %.0f bytes each\n",
              before, after, count, per);
  std::printf("RESULT idle=%d rss_before_kib=%ld rss_after_kib=%ld bytes_per_connection=%.0f\n",
              count, before, after, per);
  for (int fd : fds) ::close(fd);
  ::close(warm);
  try {  // stopped with SIGTERM, so a wrapping tool (valgrind --tool=massif) writes its output
    hearthd.terminate();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: stopping hearthd: %s\n", e.what());
  }
}

int run(int argc, char** argv) {
  CLI::App app{"loadgen: hearthd under survivors and responders, measured at the recipient"};
  RelayOptions o;
  int idle = 0;
  int idle_max_connections = 0;
  bool quick = false;
  app.add_option("--survivors", o.survivors, "survivor connections, one case each")
      ->check(CLI::Range(1, 5000))
      ->capture_default_str();
  app.add_option("--responders", o.responders,
                 "responder connections; case k goes to responder k mod M (at most 50 each)")
      ->check(CLI::Range(1, 5000))
      ->capture_default_str();
  app.add_option("--messages", o.messages, "messages each survivor sends")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--rate", o.rate, "messages/s per survivor (0: flat out, one in flight)")
      ->check(CLI::Range(0.0, 100000.0))
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "give up (and fail) after this many seconds")
      ->capture_default_str();
  app.add_option("--idle", idle,
                 "instead: hold this many idle WebSocket connections and report hearthd's "
                 "memory per connection")
      ->check(CLI::Range(1, 200000));
  app.add_option("--idle-max-connections", idle_max_connections,
                 "with --idle: hearthd's limits.max_connections for the run (0: the count + 200); "
                 "lower it to see the run fail on hearthd's limit")
      ->check(CLI::Range(0, 1000000));
  app.add_flag("--quiet", o.quiet, "no progress lines");
  app.add_flag("--quick", quick,
               "smoke run (a few seconds): 4 survivors, 2 responders, 20 messages, 200 idle");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    o.survivors = 4;
    o.responders = 2;
    o.messages = 20;
    o.timeout_s = 60;
    run_relay(o);
    run_idle(200, 0, true);
    return 0;
  }
  if (idle > 0) {
    run_idle(idle, idle_max_connections, o.quiet);
    return 0;
  }
  run_relay(o);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    die(std::string("unexpected: ") + e.what());
  }
}

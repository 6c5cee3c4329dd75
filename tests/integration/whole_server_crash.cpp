// Whole-server crash test: the real hearthd is SIGKILLed again and again under
// two-way load with vault updates; every message the server acknowledged must
// afterwards be delivered exactly once, and every vault must be at a version it
// acknowledged (or at the one in flight when it died, together with its message).
//
//   whole_server_crash [--kills N] [--cases N] [--seed N]
//
// One responder and --cases survivors, each with its own case and vault. In
// each life of hearthd: everyone reconnects and logs in, each survivor reads
// its vault back and settles what was in flight at the last kill, then a few
// rounds of load run (survivor: send with the vault update that records it in
// the same request, and now and then a vault_put; responder: send), with every
// envelope received acknowledged as it arrives. Then one request per
// connection is written without waiting for its reply, and hearthd is killed
// after a random 0-5 ms, in the middle of those requests' commits. After the
// last kill, a final life drains every mailbox.
//
// Counted: a message is "acknowledged" when its send got a reply with a seq,
// or (a survivor's send in flight at a kill) when the vault read back after
// the restart shows the update sent with it. A loss is an acknowledged message
// never delivered; a duplicate is one delivered under two seqs, or delivered
// again after its ack was itself acknowledged; an atomicity failure is a vault
// that moved without its message (or the message without its vault), or a
// vault at a version nobody sent. Redeliveries of envelopes whose ack was cut
// off by a kill are expected (at-least-once until the ack commits) and only
// reported.
//
// Prints the figures; exits 0 when there are no losses, duplicates or
// atomicity failures and at least one message per kill was acknowledged.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/vault.h"
#include "protocol/codec.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"

namespace hearth::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Options {
  int kills = 8;
  int cases = 3;
  unsigned seed = 0;
};

// What a survivor sent that the server may or may not have committed when it died.
struct InFlight {
  std::int64_t version = 0;  // the vault version the update would create
  std::string contents;      // what that vault version holds
  std::string body;          // the message sent with it ("" for a bare vault_put)
};

struct Survivor {
  TestSurvivor keys = TestSurvivor::make();
  Bytes case_id;
  std::unique_ptr<WsClient> ws;
  std::int64_t version = 0;  // the vault version the server acknowledged last
  std::string contents;      // and what it holds
  std::optional<InFlight> in_flight;
  int sent = 0;
};

// One side's view of a mailbox: who receives, which case.
struct Delivery {
  std::string recipient;  // "responder" or "survivor<i>"
  std::string case_b64;
  std::int64_t seq = 0;
  bool operator<(const Delivery& o) const {
    return std::tie(recipient, case_b64, seq) < std::tie(o.recipient, o.case_b64, o.seq);
  }
};

struct Figures {
  int kills = 0;
  std::set<std::string> acknowledged;  // bodies the server acknowledged (or the vault proves)
  std::set<std::string> unsent;        // bodies a kill proved were not committed
  std::map<std::string, Delivery> delivered;  // body -> where it first arrived
  std::set<Delivery> acked;                   // acks the server acknowledged
  int duplicates = 0;
  int redeliveries = 0;
  int atomicity_failures = 0;
  int in_flight_delivered = 0;  // responder sends whose reply a kill cut off, delivered
  std::set<std::string> responder_unknown;
};

class CrashTest {
 public:
  explicit CrashTest(Options options)
      : options_(options),
        rng_(options.seed),
        responder_(org_.add_responder("ana", {"shelter"}, std::nullopt, std::nullopt,
                                      static_cast<std::size_t>(options.cases) + 2)),
        hearthd_(org_, json{{"limits", {{"frames_per_second", 2000}, {"frame_burst", 4000}}}}) {
    survivors_.resize(static_cast<std::size_t>(options.cases));
  }

  int run() {
    auto started = Clock::now();
    hearthd_.start();
    set_up();
    for (int k = 0; k < options_.kills; ++k) {
      load(std::uniform_int_distribution<int>(2, 6)(rng_));
      kill_mid_request();
      ++figures_.kills;
      hearthd_.start();
      reconnect();
    }
    drain();
    int exit_code = hearthd_.terminate();
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return report(seconds, exit_code);
  }

 private:
  void set_up() {
    responder_ws_ = WsClient::connect(hearthd_.port());
    expect_ok(responder_login(*responder_ws_, responder_), "responder_login");
    expect_ok(upload_prekeys(*responder_ws_, responder_), "upload_prekeys");
    expect_ok(responder_ws_->call(protocol::PresenceRequest{
                  protocol::Presence::kAvailable, static_cast<std::uint32_t>(options_.cases)}),
              "presence");
    for (std::size_t i = 0; i < survivors_.size(); ++i) {
      auto& s = survivors_[i];
      s.ws = WsClient::connect(hearthd_.port());
      auto routed = route(*s.ws, envelope_for());
      expect_ok(routed, "route");
      expect_ok(open_case(*s.ws, routed, &s.keys, "intake " + std::to_string(i)), "open_case");
      // open_case seals the new vault at version 1 (flows.cpp); read it back
      // rather than assume what it holds.
      read_vault(s);
      s.case_id = take_case(*responder_ws_);
    }
    pump_all();
  }

  // ---- load ----

  void load(int rounds) {
    for (int r = 0; r < rounds; ++r) {
      for (std::size_t i = 0; i < survivors_.size(); ++i) {
        auto& s = survivors_[i];
        survivor_send(i, /*wait=*/true);
        if (coin(4)) survivor_vault_put(s, /*wait=*/true);
        responder_send(i, /*wait=*/true);
      }
      pump_all();
    }
  }

  // One request per connection written and not waited for, then SIGKILL.
  void kill_mid_request() {
    for (std::size_t i = 0; i < survivors_.size(); ++i) {
      if (coin(3)) {
        survivor_vault_put(survivors_[i], /*wait=*/false);
      } else {
        survivor_send(i, /*wait=*/false);
      }
      responder_send(i, /*wait=*/false);
    }
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 5000)(rng_)));
    hearthd_.kill();
    responder_ws_.reset();
    for (auto& s : survivors_) s.ws.reset();
  }

  void survivor_send(std::size_t i, bool wait) {
    auto& s = survivors_[i];
    std::string body = "s" + std::to_string(i) + "-" + std::to_string(++s.sent);
    InFlight next{s.version + 1, "last:" + body, body};
    protocol::SendRequest req;
    req.case_id = s.case_id;
    req.body = to_bytes(body);
    req.vault = protocol::VaultPut{s.version, seal(s, next)};
    if (!wait) {
      s.in_flight = next;
      s.ws->send_text(protocol::encode(protocol::RequestFrame{s.ws->next_id++, req}));
      return;
    }
    auto reply = s.ws->call(req);
    expect_ok(reply, "survivor send");
    if (reply.value("vault_version", std::int64_t{0}) != next.version)
      fail("survivor send: the vault version in the reply is not the one sent");
    s.version = next.version;
    s.contents = next.contents;
    figures_.acknowledged.insert(body);
    pump(*s.ws, "survivor" + std::to_string(i));
  }

  void survivor_vault_put(Survivor& s, bool wait) {
    InFlight next{s.version + 1, "put:" + std::to_string(s.version + 1), ""};
    protocol::VaultPutRequest req{protocol::VaultPut{s.version, seal(s, next)}};
    if (!wait) {
      s.in_flight = next;
      s.ws->send_text(protocol::encode(protocol::RequestFrame{s.ws->next_id++, req}));
      return;
    }
    auto reply = s.ws->call(req);
    expect_ok(reply, "vault_put");
    if (reply.value("version", std::int64_t{0}) != next.version)
      fail("vault_put: the version in the reply is not the one sent");
    s.version = next.version;
    s.contents = next.contents;
  }

  void responder_send(std::size_t i, bool wait) {
    std::string body = "r" + std::to_string(i) + "-" + std::to_string(++responder_sent_);
    protocol::SendRequest req;
    req.case_id = survivors_[i].case_id;
    req.body = to_bytes(body);
    if (!wait) {
      figures_.responder_unknown.insert(body);
      responder_ws_->send_text(
          protocol::encode(protocol::RequestFrame{responder_ws_->next_id++, req}));
      return;
    }
    expect_ok(responder_ws_->call(req), "responder send");
    figures_.acknowledged.insert(body);
    pump(*responder_ws_, "responder");
  }

  Bytes seal(const Survivor& s, const InFlight& next) {
    auto blob = crypto::seal_vault(s.keys.keys, static_cast<std::uint64_t>(next.version),
                                   as_bytes(next.contents));
    if (!blob.is_ok()) fail("seal_vault");
    return *blob;
  }

  // ---- after a restart ----

  void reconnect() {
    responder_ws_ = WsClient::connect(hearthd_.port());
    expect_ok(responder_login(*responder_ws_, responder_), "responder_login");
    for (std::size_t i = 0; i < survivors_.size(); ++i) {
      auto& s = survivors_[i];
      s.ws = WsClient::connect(hearthd_.port());
      expect_ok(vault_login(*s.ws, s.keys), "vault_login");
      settle_vault(s);
    }
    pump_all();
  }

  // Reads the vault back and decides what happened to the request in flight.
  void settle_vault(Survivor& s) {
    std::int64_t before = s.version;
    std::string before_contents = s.contents;
    read_vault(s);
    auto in_flight = std::exchange(s.in_flight, std::nullopt);
    if (s.version == before && s.contents == before_contents) {
      if (in_flight && !in_flight->body.empty()) figures_.unsent.insert(in_flight->body);
      return;
    }
    if (in_flight && s.version == in_flight->version && s.contents == in_flight->contents) {
      if (!in_flight->body.empty()) figures_.acknowledged.insert(in_flight->body);
      return;
    }
    std::fprintf(stderr, "vault at version %lld (%s); acknowledged %lld (%s)\n",
                 static_cast<long long>(s.version), s.contents.c_str(),
                 static_cast<long long>(before), before_contents.c_str());
    ++figures_.atomicity_failures;
  }

  void read_vault(Survivor& s) {
    auto got = s.ws->call(protocol::VaultGetRequest{});
    expect_ok(got, "vault_get");
    auto opened = crypto::open_vault(s.keys.keys, b64(got["blob"]));
    if (!opened.is_ok()) fail("open_vault: the stored blob does not open");
    if (static_cast<std::int64_t>(opened->version) != got["version"].get<std::int64_t>())
      fail("vault_get: the blob's sealed version is not the row's");
    s.version = got["version"].get<std::int64_t>();
    s.contents = std::string(opened->contents.begin(), opened->contents.end());
  }

  // ---- deliveries ----

  // Handles every envelope `ws` has received: record, then acknowledge it.
  void pump(WsClient& ws, const std::string& recipient) {
    while (!ws.events.empty()) {
      json ev = std::move(ws.events.front());
      ws.events.pop_front();
      if (ev.value("ev", "") != "envelope") continue;
      Delivery d{recipient, ev["case"].get<std::string>(), ev["seq"].get<std::int64_t>()};
      if (ev["kind"] == "message") record(d, to_string(b64(ev["body"])));
      protocol::AckRequest ack{b64(ev["case"]), d.seq};
      expect_ok(ws.call(ack), "ack");
      figures_.acked.insert(d);
    }
  }

  void pump_all() {
    pump(*responder_ws_, "responder");
    for (std::size_t i = 0; i < survivors_.size(); ++i) {
      pump(*survivors_[i].ws, "survivor" + std::to_string(i));
    }
  }

  void record(const Delivery& d, const std::string& body) {
    if (figures_.acked.count(d) != 0) {
      std::fprintf(stderr, "duplicate: %s again after its ack was acknowledged\n", body.c_str());
      ++figures_.duplicates;
      return;
    }
    auto [it, first] = figures_.delivered.emplace(body, d);
    if (first) {
      if (figures_.responder_unknown.count(body) != 0) ++figures_.in_flight_delivered;
      return;
    }
    if (it->second.recipient == d.recipient && it->second.case_b64 == d.case_b64 &&
        it->second.seq == d.seq) {
      ++figures_.redeliveries;  // its ack was cut off by a kill
    } else {
      std::fprintf(stderr, "duplicate: %s stored twice (seq %lld and %lld)\n", body.c_str(),
                   static_cast<long long>(it->second.seq), static_cast<long long>(d.seq));
      ++figures_.duplicates;
    }
  }

  std::size_t missing() const {
    std::size_t n = 0;
    for (const auto& body : figures_.acknowledged) n += figures_.delivered.count(body) == 0;
    return n;
  }

  // Final life: while an acknowledged message is missing, read its
  // recipient's connection. A read that waits 20 s for nothing ends the drain
  // (WsClient gives up on a connection after a timeout): what is missing then
  // is lost.
  void drain() {
    for (;;) {
      auto next = std::find_if(
          figures_.acknowledged.begin(), figures_.acknowledged.end(),
          [&](const std::string& body) { return figures_.delivered.count(body) == 0; });
      if (next == figures_.acknowledged.end()) return;
      // "s<i>-<n>" went from survivor i to the responder, "r<i>-<n>" the other way.
      std::size_t i = std::stoul(next->substr(1));
      bool to_responder = (*next)[0] == 's';
      WsClient& ws = to_responder ? *responder_ws_ : *survivors_[i].ws;
      std::string recipient = to_responder ? "responder" : "survivor" + std::to_string(i);
      WsFrame f = ws.read(std::chrono::seconds(20));
      if (f.kind == WsFrame::Kind::kTimeout) return;
      if (!f.is_text()) {
        fail("drain: " + recipient + "'s connection closed (close code " +
             std::to_string(f.close_code) + ")");
      }
      auto j = json::parse(f.text, nullptr, false);
      if (j.is_discarded()) fail("drain: not JSON");
      if (j.contains("ev")) ws.events.push_back(std::move(j));
      pump(ws, recipient);
    }
  }

  // ---- report ----

  int report(double seconds, int exit_code) {
    std::size_t lost = missing();
    int unsent_delivered = 0;
    for (const auto& body : figures_.unsent) {
      if (figures_.delivered.count(body) != 0) {
        std::fprintf(stderr, "atomicity: %s delivered, its vault update not stored\n",
                     body.c_str());
        ++unsent_delivered;
      }
    }
    figures_.atomicity_failures += unsent_delivered;
    for (const auto& body : figures_.acknowledged) {
      if (figures_.delivered.count(body) == 0) std::fprintf(stderr, "lost: %s\n", body.c_str());
    }
    std::printf(
        "whole_server_crash: kills %d, cases %d, acknowledged messages %zu, delivered %zu, "
        "duplicates %d, losses %zu, atomicity failures %d, redelivered after a cut-off ack %d, "
        "in-flight responder sends delivered %d of %zu, in-flight survivor sends not stored %zu, "
        "time %.1f s, last exit %d\n",
        figures_.kills, options_.cases, figures_.acknowledged.size(), figures_.delivered.size(),
        figures_.duplicates, lost, figures_.atomicity_failures, figures_.redeliveries,
        figures_.in_flight_delivered, figures_.responder_unknown.size(), figures_.unsent.size(),
        seconds, exit_code);
    bool ok = lost == 0 && figures_.duplicates == 0 && figures_.atomicity_failures == 0 &&
              exit_code == 0 &&
              figures_.acknowledged.size() >= static_cast<std::size_t>(figures_.kills);
    return ok ? 0 : 1;
  }

  // ---- helpers ----

  bool coin(int one_in) { return std::uniform_int_distribution<int>(1, one_in)(rng_) == 1; }

  [[noreturn]] static void fail(const std::string& what) { throw std::runtime_error(what); }
  static void expect_ok(const json& reply, const char* what) {
    if (!error_code(reply).empty()) fail(std::string(what) + ": " + reply.dump());
  }
  static std::string to_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

  Options options_;
  std::mt19937 rng_;
  TestOrg org_;
  TestResponder& responder_;
  HearthdProcess hearthd_;
  std::unique_ptr<WsClient> responder_ws_;
  std::vector<Survivor> survivors_;
  int responder_sent_ = 0;
  Figures figures_;
};

int positive(const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 100000) {
    std::fprintf(stderr, "not a positive count: %s\n", text);
    std::exit(2);
  }
  return static_cast<int>(v);
}

}  // namespace
}  // namespace hearth::test

int main(int argc, char** argv) {
  hearth::test::Options options;
  options.seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 < argc && arg == "--kills") {
      options.kills = hearth::test::positive(argv[++i]);
    } else if (i + 1 < argc && arg == "--cases") {
      options.cases = hearth::test::positive(argv[++i]);
    } else if (i + 1 < argc && arg == "--seed") {
      options.seed = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: %s [--kills N] [--cases N] [--seed N]\n", argv[0]);
      return 2;
    }
  }
  std::printf("whole_server_crash: seed %u\n", options.seed);
  std::fflush(stdout);
  try {
    return hearth::test::CrashTest(options).run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "whole_server_crash: %s\n", e.what());
    return 1;
  }
}

// relay_bench: hearthd's relay under load, measured from real clients.
//
// Creates a demo organisation with `hearth-admin demo`, starts a real hearthd
// on loopback, opens N cases with real survivor sessions (proof-of-work,
// X3DH, vault), lets the demo responder take them (take_next), and then:
//   1. relay: N survivor connections send M messages each (1 KiB padded bodies,
//      one request in flight per connection, as a client does) while one
//      responder connection receives and acknowledges them. Reports messages/s,
//      the send latency (request to committed reply) and the delivery latency
//      (request to the responder's push), median and p99.
//   2. full client: one survivor sends with SurvivorSession::send, which seals
//      and writes the vault with every message (compare-and-swap), to show
//      what a real client's send costs.
//   3. memory: hearthd's resident set before and after opening K idle
//      WebSocket connections.
// docs/performance.md records the figures and how they were taken.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/hearthd_child.h"
#include "clients/cli/org_key.h"
#include "clients/lib/responder_session.h"
#include "clients/lib/responder_store.h"
#include "clients/lib/survivor_session.h"
#include "crypto/random.h"
#include "crypto/trust.h"

namespace {

using namespace hearth;
using namespace hearth::client;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

[[noreturn]] void die(const std::string& what, const Status& s = Status::ok()) {
  std::fprintf(stderr, "relay_bench: %s %s\n", what.c_str(), s.to_string().c_str());
  std::exit(1);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

using Server = bench::HearthdChild;

void start_server(const fs::path& dir, const std::string& hearthd, Server& server) {
  bool ready = server.start(dir, hearthd, std::chrono::milliseconds(6000));
  if (!ready) die("hearthd did not start; see " + (dir / "hearthd.log").string());
}

// Logs in as the responder on a bare connection (challenge, signature).
std::unique_ptr<Connection> responder_connection(const Endpoint& endpoint,
                                                 const ResponderStore& store) {
  auto conn = Connection::connect(endpoint);
  if (!conn.is_ok()) die("connect", conn.status());
  auto challenge = (*conn)->call(protocol::ChallengeRequest{});
  if (!challenge.is_ok()) die("challenge", challenge.status());
  auto key = store.signing_key();
  auto sig = crypto::sign_responder_login(*key, challenge->challenge);
  auto login = (*conn)->call(protocol::ResponderLoginRequest{
      store.state().certificate, Bytes(sig.bytes.begin(), sig.bytes.end())});
  if (!login.is_ok()) die("responder login", login.status());
  return std::move(conn).value();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"relay_bench: hearthd's relay throughput, latency and memory"};
  int pairs = 32;
  int messages = 200;
  int idle_connections = 500;
  std::string hearthd = HEARTH_HEARTHD_PATH;
  std::string admin = HEARTH_ADMIN_PATH;
  app.add_option("--pairs", pairs, "survivor connections (cases), one responder takes them all")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  app.add_option("--messages", messages, "messages per survivor")->capture_default_str();
  app.add_option("--idle", idle_connections, "idle connections for the memory figure")
      ->capture_default_str();
  app.add_option("--hearthd", hearthd, "hearthd binary")->capture_default_str();
  bool ack = true;
  app.add_flag("!--no-ack", ack,
               "the responder does not acknowledge (isolates push latency from ack commits)");
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/hearth-relay-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  const fs::path dir = tmpl;
  const std::string demo = admin + " demo " + (dir / "org").string() +
                           " --port 0 --metrics-port 0 --pow-effort 1 >/dev/null";
  if (std::system(demo.c_str()) != 0) die("hearth-admin demo failed");
  const fs::path org = dir / "org";
  // The per-connection rate limit (20 frames/s by default) would measure the
  // throttle, not the relay: lift it for the benchmark.
  {
    const fs::path config = org / "server" / "hearthd.json";
    std::ifstream in(config);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text.erase(text.find_last_of('}'));
    text += ", \"limits\": {\"frames_per_second\": 10000, \"frame_burst\": 100000}}\n";
    std::ofstream(config) << text;
  }
  Server server;
  start_server(org, hearthd, server);
  const Endpoint endpoint{"ws://127.0.0.1:" + std::to_string(server.port) + "/v1/ws", {}};
  std::printf("hearthd pid %d on port %d; %d pairs x %d messages\n", server.pid, server.port, pairs,
              messages);

  std::ifstream pass_in(org / "responder-ana.passphrase");
  std::string passphrase;
  std::getline(pass_in, passphrase);
  auto store = ResponderStore::open(org / "responder-ana", passphrase);
  if (!store.is_ok()) die("responder store", store.status());
  auto root_hex = std::ifstream(org / "org" / "root.pub");
  std::string root_text((std::istreambuf_iterator<char>(root_hex)), {});
  auto org_root = cli::parse_org_root(root_text);

  // Cases: real survivors open them, the responder takes each.
  std::vector<SurvivorSession::Started> survivors;
  {
    auto responder = ResponderSession::login(endpoint, **store);
    if (!responder.is_ok()) die("responder login", responder.status());
    protocol::RouteEnvelope envelope{
        {protocol::Need::kLegal}, protocol::Urgency::kToday, {"en"}, protocol::Mode::kLive, {}};
    auto t0 = Steady::now();
    for (int i = 0; i < pairs; ++i) {
      auto started = SurvivorSession::start(endpoint, *org_root, envelope, "hello");
      if (!started.is_ok()) die("survivor start", started.status());
      survivors.push_back(std::move(started).value());
    }
    const double open_ms =
        std::chrono::duration<double, std::milli>(Steady::now() - t0).count() / pairs;
    std::printf("open a case (PoW effort 1, Argon2id, X3DH, vault): %.0f ms each\n", open_ms);
    // One responder takes every case: raise the capacity first (at most 50).
    if (auto st = (*responder)
                      ->set_presence(protocol::Presence::kAvailable,
                                     static_cast<std::uint32_t>(std::min(pairs, 50)));
        !st.is_ok())
      die("presence", st);
    for (int i = 0; i < pairs; ++i) {
      auto taken = (*responder)->take_next();
      if (!taken.is_ok()) die("take_next", taken.status());
      if (!taken->has_value()) die("take_next", error(Code::kNotFound, "nothing to take"));
    }
    int intakes = 0;
    while (intakes < pairs) {
      auto updates = (*responder)->poll(std::chrono::milliseconds(500));
      if (!updates.is_ok()) die("responder poll", updates.status());
      for (const auto& u : *updates) intakes += u.kind == ResponderUpdate::Kind::kNewCase ? 1 : 0;
    }
    for (auto& s : survivors) {
      while (!s.session->vault().find(s.case_id)->claimed_by) {
        if (auto u = s.session->poll(std::chrono::milliseconds(200)); !u.is_ok())
          die("survivor poll", u.status());
      }
    }
  }

  // 1. Relay: raw sends of padded 1 KiB bodies; the responder acks as it goes.
  auto responder = responder_connection(endpoint, **store);
  const std::size_t total = static_cast<std::size_t>(pairs) * static_cast<std::size_t>(messages);
  std::vector<double> delivery_ms;
  delivery_ms.reserve(total);
  std::atomic<bool> receiving{true};
  std::thread receiver([&] {
    std::vector<protocol::Request> acks;
    while (delivery_ms.size() < total && receiving) {
      auto ev = responder->next_event(std::chrono::milliseconds(100));
      if (!ev.is_ok()) die("responder connection", ev.status());
      if (ev->has_value()) {
        auto* event = std::get_if<protocol::Event>(&**ev);
        auto* env = event ? std::get_if<protocol::EnvelopeEvent>(event) : nullptr;
        if (env && env->kind == protocol::EnvelopeKind::kMessage && env->body.size() >= 8) {
          std::int64_t sent_ns = 0;
          std::memcpy(&sent_ns, env->body.data(), 8);
          const auto now_ns = Steady::now().time_since_epoch().count();
          delivery_ms.push_back(static_cast<double>(now_ns - sent_ns) / 1e6);
          acks.push_back(protocol::AckRequest{env->case_id, env->seq});
        }
      }
      if (!ack) acks.clear();
      if (acks.size() >= 32 || (!ev->has_value() && !acks.empty())) {
        for (auto& r : responder->call_all(std::move(acks)))
          if (!r.is_ok()) die("ack", r.status());
        acks.clear();
      }
    }
  });
  std::mutex mu;
  std::vector<double> send_ms;
  auto t0 = Steady::now();
  std::vector<std::thread> senders;
  for (auto& s : survivors) {
    senders.emplace_back([&, conn = &s.session->connection(), case_id = s.case_id] {
      std::vector<double> mine;
      for (int m = 0; m < messages; ++m) {
        Bytes body = crypto::random_bytes(1024 + 16 + 24 + 41);  // padded 1 KiB + AEAD + header
        const auto start = Steady::now();
        const std::int64_t ns = start.time_since_epoch().count();
        std::memcpy(body.data(), &ns, 8);
        auto reply = conn->call(protocol::SendRequest{case_id, std::move(body), std::nullopt});
        if (!reply.is_ok()) die("send", reply.status());
        mine.push_back(std::chrono::duration<double, std::milli>(Steady::now() - start).count());
      }
      std::lock_guard lock(mu);
      send_ms.insert(send_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : senders) t.join();
  const double sent_s = std::chrono::duration<double>(Steady::now() - t0).count();
  receiver.join();
  const double delivered_s = std::chrono::duration<double>(Steady::now() - t0).count();
  std::printf(
      "relay: %zu messages in %.2f s: %.0f messages/s (all delivered and acked in %.2f s)\n", total,
      sent_s, static_cast<double>(total) / sent_s, delivered_s);
  std::printf("  send -> committed reply: median %.2f ms, p99 %.2f ms\n", percentile(send_ms, 0.5),
              percentile(send_ms, 0.99));
  std::printf("  send -> responder push:  median %.2f ms, p99 %.2f ms\n",
              percentile(delivery_ms, 0.5), percentile(delivery_ms, 0.99));

  // 2. A full client's send: ratchet, vault sealed and written with the message.
  {
    auto& s = *survivors.front().session;
    std::vector<double> full_ms;
    for (int m = 0; m < 100; ++m) {
      const auto start = Steady::now();
      if (Status st = s.send(survivors.front().case_id,
                             "a message of ordinary length, about "
                             "eighty characters long, like this one.");
          !st.is_ok())
        die("full send", st);
      full_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - start).count());
    }
    std::printf("full client send (ratchet + vault CAS, vault %lld): median %.2f ms, p99 %.2f ms\n",
                static_cast<long long>(s.vault_version()), percentile(full_ms, 0.5),
                percentile(full_ms, 0.99));
  }

  // 3. Memory per idle connection.
  const long before = rss_kib(server.pid);
  std::vector<std::unique_ptr<Connection>> idle;
  for (int i = 0; i < idle_connections; ++i) {
    auto c = Connection::connect(endpoint);
    if (!c.is_ok()) die("idle connect", c.status());
    if (auto r = (*c)->call(protocol::PowChallengeRequest{}); !r.is_ok())
      die("idle call", r.status());
    idle.push_back(std::move(c).value());
  }
  const long after = rss_kib(server.pid);
  std::printf(
      "memory: hearthd RSS %ld KiB, %ld KiB with %d more idle connections (%.1f KiB each)\n",
      before, after, idle_connections, static_cast<double>(after - before) / idle_connections);
  idle.clear();
  fs::remove_all(dir);
  return 0;
}

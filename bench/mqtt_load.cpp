// mqtt_load: bench/loadgen's client shape against an MQTT broker (mosquitto),
// for bench/side_by_side.sh.
//
// S senders and R receivers, each its own libmosquitto client and connection.
// Sender s publishes to topic "hearth-bench/<s mod R>" at QoS 1, one message in
// flight: the next only after the broker's PUBACK. Receiver r subscribes to
// "hearth-bench/r" at QoS 1 with a persistent session (clean_session false, so
// the broker keeps its messages as hearthd keeps a mailbox's), and a message
// counts when its on_message callback has it. Payloads are --payload bytes
// (random, the first 8 the send time). Reports messages/s RECEIVED over the
// time to the last receipt, send -> received p50/p99/p99.9, errors, and the
// same RESULT line as loadgen.
//
// Thread safety: libmosquitto's threaded loop, one per client; counters are
// atomics, latencies are collected under a mutex.
#include <mosquitto.h>
#include <sys/resource.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Steady = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "mqtt_load: %s\n", why.c_str());
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

struct Shared {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::int64_t> last_receipt_ns{0};
  std::mutex mu;
  std::vector<double> e2e_ms;
};

// One client: its handle, and for a sender the PUBACK it waits for.
struct Client {
  mosquitto* handle = nullptr;
  Shared* shared = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
  bool subscribed = false;
  bool acked = false;
  std::vector<double> latencies;  // receiver only, its own loop thread
};

void on_connect(mosquitto*, void* user, int rc) {
  auto* c = static_cast<Client*>(user);
  if (rc != 0) die("connect refused: " + std::string(mosquitto_connack_string(rc)));
  std::lock_guard lock(c->mu);
  c->connected = true;
  c->cv.notify_all();
}

void on_subscribe(mosquitto*, void* user, int, int, const int*) {
  auto* c = static_cast<Client*>(user);
  std::lock_guard lock(c->mu);
  c->subscribed = true;
  c->cv.notify_all();
}

void on_publish(mosquitto*, void* user, int) {
  auto* c = static_cast<Client*>(user);
  std::lock_guard lock(c->mu);
  c->acked = true;
  c->cv.notify_all();
}

void on_message(mosquitto*, void* user, const mosquitto_message* m) {
  auto* c = static_cast<Client*>(user);
  const auto now = Steady::now().time_since_epoch().count();
  if (m->payloadlen < 8) {
    c->shared->errors++;
    return;
  }
  std::int64_t sent_ns = 0;
  std::memcpy(&sent_ns, m->payload, 8);
  c->latencies.push_back(static_cast<double>(now - sent_ns) / 1e6);
  c->shared->received++;
  std::int64_t prev = c->shared->last_receipt_ns.load();
  while (prev < now && !c->shared->last_receipt_ns.compare_exchange_weak(prev, now)) {
  }
}

template <class Pred>
void wait_for(Client& c, Pred pred, const char* what) {
  std::unique_lock lock(c.mu);
  if (!c.cv.wait_for(lock, std::chrono::seconds(30), [&] { return pred(c); }))
    die(std::string("no ") + what + " in 30 s");
}

std::unique_ptr<Client> make_client(const std::string& id, bool clean, Shared& shared,
                                    const std::string& host, int port) {
  auto c = std::make_unique<Client>();
  c->shared = &shared;
  c->handle = mosquitto_new(id.c_str(), clean, c.get());
  if (c->handle == nullptr) die("mosquitto_new failed");
  mosquitto_int_option(c->handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(c->handle, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_callback_set(c->handle, on_connect);
  mosquitto_subscribe_callback_set(c->handle, on_subscribe);
  mosquitto_publish_callback_set(c->handle, on_publish);
  mosquitto_message_callback_set(c->handle, on_message);
  if (int rc = mosquitto_connect(c->handle, host.c_str(), port, 60); rc != MOSQ_ERR_SUCCESS)
    die("connect: " + std::string(mosquitto_strerror(rc)));
  if (int rc = mosquitto_loop_start(c->handle); rc != MOSQ_ERR_SUCCESS)
    die("loop_start: " + std::string(mosquitto_strerror(rc)));
  wait_for(
      *c, [](Client& x) { return x.connected; }, "CONNACK");
  return c;
}

int run(int argc, char** argv) {
  CLI::App app{"mqtt_load: loadgen's client shape (one QoS 1 message in flight) over MQTT"};
  std::string host = "127.0.0.1";
  int port = 1883;
  int senders = 16;
  int receivers = 1;
  int messages = 200;
  int payload = 1105;
  double timeout_s = 120;
  bool quiet = false;
  app.add_option("--host", host)->capture_default_str();
  app.add_option("--port", port)->capture_default_str();
  app.add_option("--senders", senders)->check(CLI::Range(1, 5000))->capture_default_str();
  app.add_option("--receivers", receivers, "sender s publishes to receiver s mod R")
      ->check(CLI::Range(1, 5000))
      ->capture_default_str();
  app.add_option("--messages", messages, "messages per sender")->capture_default_str();
  app.add_option("--payload", payload, "bytes per message (loadgen's body is 1,105)")
      ->check(CLI::Range(8, 1 << 20))
      ->capture_default_str();
  app.add_option("--timeout", timeout_s, "give up (and fail) after this many seconds")
      ->capture_default_str();
  app.add_flag("--quiet", quiet, "no progress lines");
  CLI11_PARSE(app, argc, argv);

  mosquitto_lib_init();
  Shared shared;
  const std::string run = std::to_string(::getpid());
  std::vector<std::unique_ptr<Client>> rx;
  for (int r = 0; r < receivers; ++r) {
    rx.push_back(make_client("rx-" + run + "-" + std::to_string(r), false, shared, host, port));
    const std::string topic = "hearth-bench/" + std::to_string(r);
    if (int rc = mosquitto_subscribe(rx.back()->handle, nullptr, topic.c_str(), 1);
        rc != MOSQ_ERR_SUCCESS)
      die("subscribe: " + std::string(mosquitto_strerror(rc)));
    wait_for(
        *rx.back(), [](Client& x) { return x.subscribed; }, "SUBACK");
  }
  std::vector<std::unique_ptr<Client>> tx;
  tx.reserve(static_cast<std::size_t>(senders));
  for (int s = 0; s < senders; ++s)
    tx.push_back(make_client("tx-" + run + "-" + std::to_string(s), true, shared, host, port));
  std::printf("mqtt_load: %d senders -> %d receivers on %s:%d, %d messages each, %d bytes\n",
              senders, receivers, host.c_str(), port, messages, payload);
  std::fflush(stdout);

  const std::uint64_t total =
      static_cast<std::uint64_t>(senders) * static_cast<std::uint64_t>(messages);
  const double window_start = unix_now();
  const auto t0 = Steady::now();
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(senders));
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&, s] {
      Client& c = *tx[static_cast<std::size_t>(s)];
      const std::string topic = "hearth-bench/" + std::to_string(s % receivers);
      std::vector<unsigned char> body(static_cast<std::size_t>(payload));
      std::mt19937_64 rng(static_cast<std::uint64_t>(s) + 1);
      for (auto& b : body) b = static_cast<unsigned char>(rng());
      for (int m = 0; m < messages && !stop; ++m) {
        {
          std::lock_guard lock(c.mu);
          c.acked = false;
        }
        const std::int64_t ns = Steady::now().time_since_epoch().count();
        std::memcpy(body.data(), &ns, 8);
        if (int rc =
                mosquitto_publish(c.handle, nullptr, topic.c_str(), payload, body.data(), 1, false);
            rc != MOSQ_ERR_SUCCESS) {
          shared.errors++;
          continue;
        }
        std::unique_lock lock(c.mu);
        if (!c.cv.wait_for(lock, std::chrono::seconds(30), [&] { return c.acked; })) {
          shared.errors++;
          return;
        }
        shared.sent++;
      }
    });
  }
  std::uint64_t last = 0;
  const auto deadline =
      t0 + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(timeout_s));
  while (shared.received < total) {
    std::this_thread::sleep_for(std::chrono::milliseconds(quiet ? 20 : 1000));
    const std::uint64_t now_received = shared.received;
    if (!quiet) {
      std::printf("  %5.1f s  received %8llu (%6llu/s)  sent %8llu  errors %llu\n",
                  std::chrono::duration<double>(Steady::now() - t0).count(),
                  static_cast<unsigned long long>(now_received),
                  static_cast<unsigned long long>(now_received - last),
                  static_cast<unsigned long long>(shared.sent.load()),
                  static_cast<unsigned long long>(shared.errors.load()));
      std::fflush(stdout);
    }
    last = now_received;
    if (Steady::now() > deadline) {
      std::printf("deadline: %llu of %llu received; stopping\n",
                  static_cast<unsigned long long>(now_received),
                  static_cast<unsigned long long>(total));
      stop = true;
      break;
    }
  }
  for (auto& t : threads) t.join();
  const double window_end = unix_now();
  for (auto& c : tx) {
    mosquitto_disconnect(c->handle);
    mosquitto_loop_stop(c->handle, false);
  }
  for (auto& c : rx) {
    mosquitto_disconnect(c->handle);
    mosquitto_loop_stop(c->handle, false);
    shared.e2e_ms.insert(shared.e2e_ms.end(), c->latencies.begin(), c->latencies.end());
  }
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const double own_cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  const double seconds =
      static_cast<double>(shared.last_receipt_ns - t0.time_since_epoch().count()) / 1e9;
  const auto received = shared.received.load();
  const double rate = seconds > 0 ? static_cast<double>(received) / seconds : 0;
  std::printf("received %llu of %llu in %.2f s: %.0f messages/s\n",
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(total),
              seconds, rate);
  std::printf("  send -> receiver has it: p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  errors %llu\n",
              percentile(shared.e2e_ms, 0.5), percentile(shared.e2e_ms, 0.99),
              percentile(shared.e2e_ms, 0.999),
              static_cast<unsigned long long>(shared.errors.load()));
  std::printf(
      "RESULT received=%llu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
      "errors=%llu commits_per_msg=-1 server_cpu_us=-1 client_cpu_s=%.2f window=%.6f,%.6f\n",
      static_cast<unsigned long long>(received), seconds, rate, percentile(shared.e2e_ms, 0.5),
      percentile(shared.e2e_ms, 0.99), percentile(shared.e2e_ms, 0.999),
      static_cast<unsigned long long>(shared.errors.load()), own_cpu, window_start, window_end);
  std::fflush(stdout);
  for (auto& c : tx) mosquitto_destroy(c->handle);
  for (auto& c : rx) mosquitto_destroy(c->handle);
  mosquitto_lib_cleanup();
  return received < total || shared.errors > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    die(std::string("unexpected: ") + e.what());
  }
}

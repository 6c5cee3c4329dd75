// flood_bench: hearthd under attack, measured from a live conversation.
//
// Creates a demo organisation with `hearth-admin demo`, starts a real hearthd
// on loopback with its default limits, and sets up one live conversation with
// the client library (a SurvivorSession whose case the demo responder's
// ResponderSession took). It times that conversation's round trip for a quiet
// while, then for --duration seconds while these hit the server at once:
//   - half-open handshakes: TCP connects that send part of an HTTP request and
//     stall, and (a share of them) plain connects that send nothing, held open;
//   - big partial frames: WebSocket upgraded, then a frame header announcing
//     ~250 KiB and only part of the payload, stalled;
//   - a stream of case opens with valid proofs of work (route + open_case with
//     a new vault, the PoW solved at the effort the server asks), counted by
//     outcome;
//   - failed responder logins (challenge, then the real certificate with a bad
//     signature: the expensive path), at a fixed rate.
// The attackers are raw: one epoll thread with its own sockets (the first,
// second and fourth), and the integration tests' protocol flows (the third),
// so they follow protocol changes. The legitimate traffic uses hearth_client.
// Meanwhile it counts legitimate connects (a survivor-like connect and a
// responder re-login every --probe-interval, a fresh survivor opening a case,
// a new danger-now survivor routed and taken by the responder, live
// reconnects), and samples hearthd's resident set and CPU. It reports what
// the bench itself spent (getrusage) so the figures can be judged on a small
// machine: the attackers compete with hearthd for the same cores.
// With --attack-sources N the attackers' connections come from N loopback
// addresses, 127.0.0.2 onwards (a distributed attacker: hearthd gives each
// source a fair share, server/admission.h); the legitimate traffic stays on
// 127.0.0.1. Without it every connection comes from 127.0.0.1 (one source).
// docs/performance.md ("Under attack") records the figures and how they were taken.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
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
#include "protocol/codec.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/ws_client.h"

namespace {

using namespace hearth;
using namespace hearth::client;
using Steady = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
namespace fs = std::filesystem;

pid_t g_hearthd = -1;            // killed by die(), so a failed run leaves no server behind
std::vector<fs::path> g_remove;  // and no demo org (keys included) behind either

[[noreturn]] void die(const std::string& what, const Status& s = Status::ok()) {
  std::fprintf(stderr, "flood_bench: %s %s\n", what.c_str(),
               s.is_ok() ? "" : s.to_string().c_str());
  if (g_hearthd > 0) {
    ::kill(g_hearthd, SIGKILL);
    ::waitpid(g_hearthd, nullptr, 0);
  }
  std::error_code ec;
  for (const auto& p : g_remove) fs::remove_all(p, ec);
  std::exit(1);
}

double ms_since(Steady::time_point t) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// One field ("VmRSS", "VmHWM") of /proc/<pid>/status, in KiB; -1 if absent.
long proc_status_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15).
double proc_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto end = text.rfind(')');
  if (end == std::string::npos) return 0;
  std::istringstream rest(text.substr(end + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i >= 14) ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long open_fds(pid_t pid) {
  std::error_code ec;
  long n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

using Server = bench::HearthdChild;

void start_server(const fs::path& dir, const std::string& hearthd, Server& server) {
  bool ready = server.start(dir, hearthd, std::chrono::milliseconds(10000));
  g_hearthd = server.pid;
  if (!ready) die("hearthd did not start; see " + (dir / "hearthd.log").string());
}

// A tally of outcomes by name ("ok", a wire error code, a local failure).
class Tally {
 public:
  void add(const std::string& what, long n = 1) {
    std::lock_guard lock(mu_);
    counts_[what] += n;
  }
  std::map<std::string, long> counts() const {
    std::lock_guard lock(mu_);
    return counts_;
  }
  long total() const {
    long n = 0;
    for (const auto& [k, v] : counts()) n += v;
    return n;
  }
  long of(const std::string& what) const {
    auto c = counts();
    auto it = c.find(what);
    return it == c.end() ? 0 : it->second;
  }
  std::string str() const {
    std::string out;
    for (const auto& [k, v] : counts())
      out += (out.empty() ? "" : ", ") + k + " " + std::to_string(v);
    return out.empty() ? "none" : out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, long> counts_;
};

// How a client-library call ended, short enough for a tally: "ok", the
// server's wire error code (it was reached), or "no answer: <why>" (a local
// failure: refused connect or upgrade, timeout, dropped connection).
constexpr std::string_view kNoAnswer = "no answer: ";
std::string outcome(const Status& s) {
  if (s.is_ok()) return "ok";
  if (auto code = protocol_error(s)) return std::string(protocol::error_code_name(*code));
  std::string text = std::string(kNoAnswer) + s.to_string();
  if (text.size() > 72) text.resize(72);
  return text;
}

// How many of a tally's attempts reached the server (ok or a wire error).
long reached(const Tally& t) {
  long n = 0;
  for (const auto& [what, count] : t.counts())
    if (what.rfind(kNoAnswer, 0) != 0) n += count;
  return n;
}

// ---------------------------------------------------------------------------
// The raw attackers: one thread, epoll, non-blocking sockets of their own.

struct RawOptions {
  int port = 0;
  int half_open = 0;
  double silent_share = 0.25;  // of half_open: connect and send nothing
  int partial_frames = 0;
  std::size_t frame_announced = 0;
  std::size_t frame_sent = 0;
  double login_rate = 0;
  int login_conns = 0;
  std::string login_wire;  // challenge + responder_login frames, masked
  Ms reopen_delay{2000};
  int max_connecting = 256;
  int attack_sources = 0;  // 0: from 127.0.0.1; else spread over 127.0.0.2 onwards
};

// The k-th attacker source's address (host order): 127.0.0.2 + k mod n.
std::uint32_t attacker_address(std::size_t k, int sources) {
  if (sources <= 0) return INADDR_LOOPBACK;
  return INADDR_LOOPBACK + 1 + static_cast<std::uint32_t>(k % static_cast<std::size_t>(sources));
}
std::string attacker_address_text(std::size_t k, int sources) {
  in_addr a{htonl(attacker_address(k, sources))};
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, text, sizeof text);
  return text;
}

enum class Kind { kHalfOpen, kSilent, kPartialFrame, kLogin };
constexpr int kKinds = 4;
const char* const kKindNames[kKinds] = {"half-open HTTP", "silent connect", "partial frame",
                                        "failed login"};

struct KindStats {
  long connects = 0;        // connect() calls
  long connect_failed = 0;  // refused or failed locally (EMFILE, EADDRNOTAVAIL, ...)
  long established = 0;     // TCP connected
  long upgraded = 0;        // 101 received (partial frames, logins)
  long stalled = 0;         // partial frames: header + part of the payload written
  long closed_by_server = 0;
  long open_now = 0;
  long max_open = 0;                          // established at once, at most
  std::map<std::string, long> http_refusals;  // "503", ... (the status line's code)
  std::map<int, long> close_codes;            // WebSocket close codes received
};

class RawFlood {
 public:
  explicit RawFlood(RawOptions o) : o_(std::move(o)), payload_(64 * 1024, 'x') {}

  void run(const std::atomic<bool>& stop) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1");
    // Interleave the kinds so they arrive together (logins first: few).
    std::vector<std::pair<double, Kind>> order;
    for (int i = 0; i < o_.login_conns; ++i) order.push_back({-1.0, Kind::kLogin});
    const int silent = static_cast<int>(std::lround(o_.half_open * o_.silent_share));
    auto spread = [&](int n, Kind k) {
      for (int i = 0; i < n; ++i) order.push_back({(i + 0.5) / n, k});
    };
    spread(o_.half_open - silent, Kind::kHalfOpen);
    spread(silent, Kind::kSilent);
    spread(o_.partial_frames, Kind::kPartialFrame);
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const auto start = Steady::now();
    for (const auto& [key, kind] : order) {
      Slot slot;
      slot.kind = kind;
      slots_.push_back(std::move(slot));
      reopen_.push_back({start, slots_.size() - 1});
    }
    auto last = Steady::now();
    epoll_event events[256];
    while (!stop.load()) {
      const auto now = Steady::now();
      while (!reopen_.empty() && reopen_.front().first <= now && connecting_ < o_.max_connecting) {
        open(reopen_.front().second);
        reopen_.pop_front();
      }
      schedule_logins(std::chrono::duration<double>(now - last).count());
      last = now;
      const int n = ::epoll_wait(epoll_, events, 256, 5);
      for (int i = 0; i < n; ++i) handle(events[i].data.u64, events[i].events);
    }
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].fd >= 0) ::close(slots_[i].fd);
    ::close(epoll_);
    cpu_seconds_ = cpu_seconds(RUSAGE_THREAD);
    seconds_ = std::chrono::duration<double>(Steady::now() - start).count();
  }

  const KindStats& stats(Kind k) const { return stats_[static_cast<int>(k)]; }
  const std::map<std::string, long>& login_replies() const { return login_replies_; }
  long login_attempts() const { return login_attempts_; }
  long login_missed() const { return static_cast<long>(login_missed_); }
  double cpu() const { return cpu_seconds_; }
  double seconds() const { return seconds_; }

 private:
  enum class State { kClosed, kConnecting, kUpgrading, kHolding, kLoginReady, kLoginWaiting };
  struct Slot {
    Kind kind = Kind::kSilent;
    int fd = -1;
    State state = State::kClosed;
    std::string out;
    std::size_t out_off = 0;
    std::size_t payload_left = 0;  // partial frame bytes still to write
    std::string in;
    int replies = 0;  // login replies still expected
    bool want_out = false;
  };

  KindStats& st(const Slot& s) { return stats_[static_cast<int>(s.kind)]; }

  void open(std::size_t i) {
    Slot& s = slots_[i];
    st(s).connects++;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      st(s).connect_failed++;
      reopen_.push_back({Steady::now() + o_.reopen_delay, i});
      return;
    }
    // Close with a reset: no TIME_WAIT on either side, so the churn of
    // reopened connections cannot use up loopback's ephemeral ports.
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o_.attack_sources > 0) {
      // The port is chosen at connect (per destination), not at bind.
      ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in local{};
      local.sin_family = AF_INET;
      local.sin_addr.s_addr = htonl(attacker_address(i, o_.attack_sources));
      if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
        ::close(fd);
        st(s).connect_failed++;
        reopen_.push_back({Steady::now() + o_.reopen_delay, i});
        return;
      }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(o_.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      ::close(fd);
      st(s).connect_failed++;
      reopen_.push_back({Steady::now() + o_.reopen_delay, i});
      return;
    }
    s.fd = fd;
    s.state = State::kConnecting;
    s.out.clear();
    s.out_off = 0;
    s.payload_left = 0;
    s.in.clear();
    s.replies = 0;
    s.want_out = true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = i;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    ++connecting_;
  }

  void close_slot(std::size_t i, bool by_server) {
    Slot& s = slots_[i];
    if (s.fd < 0) return;
    if (s.state == State::kConnecting) {
      --connecting_;
      st(s).connect_failed++;
    } else {
      st(s).open_now--;
      if (by_server) st(s).closed_by_server++;
    }
    ::close(s.fd);  // epoll forgets it
    s.fd = -1;
    s.state = State::kClosed;
    reopen_.push_back({Steady::now() + o_.reopen_delay, i});
  }

  void set_out_interest(std::size_t i, bool want) {
    Slot& s = slots_[i];
    if (s.want_out == want) return;
    s.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
    ev.data.u64 = i;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, s.fd, &ev);
  }

  // Writes what is pending; false when the connection failed.
  bool flush(std::size_t i) {
    Slot& s = slots_[i];
    while (s.out_off < s.out.size()) {
      const ssize_t n =
          ::send(s.fd, s.out.data() + s.out_off, s.out.size() - s.out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        return false;
      }
      s.out_off += static_cast<std::size_t>(n);
    }
    if (s.out_off == s.out.size()) {
      s.out.clear();
      s.out_off = 0;
      while (s.payload_left > 0) {
        const ssize_t n =
            ::send(s.fd, payload_.data(), std::min(s.payload_left, payload_.size()), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN) break;
          return false;
        }
        s.payload_left -= static_cast<std::size_t>(n);
        if (s.payload_left == 0) st(s).stalled++;
      }
    }
    set_out_interest(i, !s.out.empty() || s.payload_left > 0);
    return true;
  }

  static std::string upgrade_request() {
    return "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n";
  }

  void on_connected(std::size_t i) {
    Slot& s = slots_[i];
    --connecting_;
    KindStats& k = st(s);
    k.established++;
    k.open_now++;
    k.max_open = std::max(k.max_open, k.open_now);
    switch (s.kind) {
      case Kind::kSilent:
        s.state = State::kHolding;
        break;
      case Kind::kHalfOpen:
        // The request line and two headers, never the blank line that ends them.
        s.out = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";
        s.state = State::kHolding;
        break;
      case Kind::kPartialFrame:
      case Kind::kLogin:
        s.out = upgrade_request();
        s.state = State::kUpgrading;
        break;
    }
  }

  void on_upgraded(std::size_t i) {
    Slot& s = slots_[i];
    st(s).upgraded++;
    if (s.kind == Kind::kLogin) {
      s.state = State::kLoginReady;
      ready_.push_back(i);
      return;
    }
    // A masked text frame announcing frame_announced bytes (64-bit length),
    // mask key zero, then frame_sent bytes of it.
    s.out.assign({'\x81', static_cast<char>(0x80 | 127)});
    for (int b = 7; b >= 0; --b)
      s.out.push_back(static_cast<char>((o_.frame_announced >> (8 * b)) & 0xff));
    s.out.append(4, '\0');
    s.payload_left = o_.frame_sent;
    s.state = State::kHolding;
  }

  // Server frames (never masked) at the front of s.in. False: close.
  bool read_frames(std::size_t i) {
    Slot& s = slots_[i];
    for (;;) {
      if (s.in.size() < 2) return true;
      const auto b0 = static_cast<std::uint8_t>(s.in[0]);
      std::uint64_t len = static_cast<std::uint8_t>(s.in[1]) & 0x7f;
      std::size_t header = 2;
      if (len == 126) {
        if (s.in.size() < 4) return true;
        len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(s.in[2])) << 8) |
              static_cast<std::uint8_t>(s.in[3]);
        header = 4;
      } else if (len == 127) {
        if (s.in.size() < 10) return true;
        len = 0;
        for (int b = 0; b < 8; ++b) len = (len << 8) | static_cast<std::uint8_t>(s.in[2 + b]);
        header = 10;
      }
      if (s.in.size() < header + len) return true;
      const std::string payload = s.in.substr(header, len);
      s.in.erase(0, header + len);
      const int opcode = b0 & 0x0f;
      if (opcode == 0x8) {
        const int code = payload.size() >= 2 ? (static_cast<std::uint8_t>(payload[0]) << 8) |
                                                   static_cast<std::uint8_t>(payload[1])
                                             : 1005;
        st(s).close_codes[code]++;
        return false;
      }
      if (opcode == 0x9) {  // ping: answer with a masked pong
        s.out.push_back('\x8a');
        s.out.push_back(static_cast<char>(0x80 | payload.size()));
        s.out.append(4, '\0');
        s.out += payload;
        continue;
      }
      if (opcode == 0x1 && s.state == State::kLoginWaiting) {
        if (payload.find("\"re\":2") != std::string::npos) {
          std::string code = "ok";
          if (auto at = payload.find("\"code\":\""); at != std::string::npos) {
            at += 8;
            code = payload.substr(at, payload.find('"', at) - at);
          }
          login_replies_[code]++;
        }
        if (--s.replies == 0) {
          s.state = State::kLoginReady;
          ready_.push_back(i);
        }
      }
    }
  }

  void handle(std::size_t i, std::uint32_t events) {
    Slot& s = slots_[i];
    if (s.fd < 0) return;
    if (s.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
        close_slot(i, false);
        return;
      }
      if (!(events & EPOLLOUT)) return;
      on_connected(i);
      if (!flush(i)) close_slot(i, true);
      return;
    }
    if (events & EPOLLIN) {
      // Read what is there; an end of stream is handled after what came
      // before it (a 503 arrives together with the server's FIN).
      char buf[16384];
      bool ended = false;
      for (;;) {
        const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          ended = n == 0 || errno != EAGAIN;
          break;
        }
        s.in.append(buf, static_cast<std::size_t>(n));
      }
      if (s.state == State::kUpgrading) {
        const auto end = s.in.find("\r\n\r\n");
        if (end != std::string::npos) {
          if (s.in.rfind("HTTP/1.1 101", 0) == 0) {
            s.in.erase(0, end + 4);
            on_upgraded(i);
          } else {
            st(s).http_refusals[s.in.substr(9, 3)]++;
            close_slot(i, true);
            return;
          }
        }
      }
      if (s.state == State::kHolding && (s.kind == Kind::kHalfOpen || s.kind == Kind::kSilent)) {
        // An HTTP answer to a request never finished (a 503 or 408, say).
        if (s.in.rfind("HTTP/1.1 ", 0) == 0 && s.in.size() >= 12) {
          st(s).http_refusals[s.in.substr(9, 3)]++;
          close_slot(i, true);
          return;
        }
      } else if (s.state != State::kUpgrading && !read_frames(i)) {
        close_slot(i, true);
        return;
      }
      if (ended) {
        close_slot(i, true);
        return;
      }
    } else if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
      close_slot(i, true);
      return;
    }
    if (!flush(i)) close_slot(i, true);
  }

  void schedule_logins(double dt) {
    if (o_.login_rate <= 0) return;
    const double burst = std::max(1.0, o_.login_rate * 0.02);
    tokens_ += dt * o_.login_rate;
    while (tokens_ >= 1 && !ready_.empty()) {
      const std::size_t i = ready_.front();
      ready_.pop_front();
      Slot& s = slots_[i];
      if (s.fd < 0 || s.state != State::kLoginReady) continue;
      s.out += o_.login_wire;
      s.replies = 2;
      s.state = State::kLoginWaiting;
      ++login_attempts_;
      tokens_ -= 1;
      if (!flush(i)) close_slot(i, true);
    }
    // Attempts that found no free connection are not made up for later.
    if (tokens_ > burst) {
      login_missed_ += tokens_ - burst;
      tokens_ = burst;
    }
  }

  RawOptions o_;
  std::string payload_;
  int epoll_ = -1;
  std::vector<Slot> slots_;
  std::deque<std::pair<Steady::time_point, std::size_t>> reopen_;
  std::deque<std::size_t> ready_;
  int connecting_ = 0;
  KindStats stats_[kKinds];
  double tokens_ = 0;
  double login_missed_ = 0;
  long login_attempts_ = 0;
  std::map<std::string, long> login_replies_;
  double cpu_seconds_ = 0;
  double seconds_ = 0;
};

// A client text frame: FIN, text, masked with key zero (the payload is sent as is).
std::string masked_text_frame(const std::string& text) {
  std::string f{'\x81'};
  if (text.size() < 126) {
    f.push_back(static_cast<char>(0x80 | text.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>((text.size() >> 8) & 0xff));
    f.push_back(static_cast<char>(text.size() & 0xff));
  }
  f.append(4, '\0');
  return f + text;
}

// ---------------------------------------------------------------------------
// The live conversation and the legitimate probes.

// Which part of the run a round trip started in.
enum Phase { kQuiet = 0, kFlood = 1, kDone = 2 };

struct Live {
  std::atomic<int> phase{kQuiet};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> rtt[2], to_responder[2], to_survivor[2];
  long lost[2] = {0, 0};  // no reply within the timeout
  Tally send_failures, responder_failures;
  // Connections the live pair had to make again during the run.
  Tally survivor_reconnects, responder_reconnects;

  // The danger-now take, asked of the responder thread.
  std::optional<Bytes> take_wanted;
  Steady::time_point take_deadline;
  std::optional<double> taken_at_ms;  // since take_t0
  Steady::time_point take_t0;
  std::string take_result;
  std::condition_variable take_done;
};

std::int64_t now_ns() { return Steady::now().time_since_epoch().count(); }

void responder_loop(ResponderSession& responder, Live& live) {
  while (!live.stop.load()) {
    auto updates = responder.poll(Ms(10));
    if (!updates.is_ok()) {
      live.responder_failures.add("poll: " + outcome(updates.status()));
      std::this_thread::sleep_for(Ms(100));
      continue;
    }
    for (const auto& u : *updates) {
      if (u.kind == ResponderUpdate::Kind::kDisconnected) {
        Status st = responder.reconnect();
        live.responder_reconnects.add(outcome(st));
        if (!st.is_ok()) std::this_thread::sleep_for(Ms(200));
        continue;
      }
      if (u.kind != ResponderUpdate::Kind::kMessage) continue;
      long long seq = 0, t0 = 0;
      if (std::sscanf(u.message.payload.c_str(), "rtt %lld %lld", &seq, &t0) != 2) continue;
      const double leg = static_cast<double>(now_ns() - t0) / 1e6;
      const int phase = live.phase.load();
      {
        std::lock_guard lock(live.mu);
        if (phase < kDone) live.to_responder[phase].push_back(leg);
      }
      const std::string reply =
          "re " + std::to_string(seq) + " " + std::to_string(t0) + " " + std::to_string(now_ns());
      if (Status st = responder.send(u.case_id, reply); !st.is_ok())
        live.responder_failures.add("send: " + outcome(st));
    }
    // A danger-now case to take?
    std::unique_lock lock(live.mu);
    if (live.take_wanted && !live.taken_at_ms) {
      const Bytes want = *live.take_wanted;
      lock.unlock();
      auto taken = responder.take_next();
      lock.lock();
      if (!taken.is_ok()) {
        live.take_result = "take_next: " + outcome(taken.status());
      } else if (taken->has_value() && (*taken)->case_id == want) {
        live.taken_at_ms = ms_since(live.take_t0);
        live.take_result = "taken";
        live.take_done.notify_all();
      } else if (taken->has_value()) {
        live.take_result = "take_next handed out another case first";
      } else {
        live.take_result = "take_next: nothing to take";
      }
      if (!live.taken_at_ms && Steady::now() > live.take_deadline) {
        live.take_wanted.reset();
        live.take_done.notify_all();
      }
    }
  }
}

void survivor_loop(SurvivorSession& survivor, const Bytes& case_id, Live& live, Ms interval,
                   Ms reply_timeout) {
  long long seq = 0;
  auto next = Steady::now();
  while (!live.stop.load()) {
    std::this_thread::sleep_until(next);
    next += interval;
    if (live.stop.load()) break;
    const int phase = live.phase.load();
    const std::int64_t t0 = now_ns();
    const long long mine = ++seq;
    Status st = survivor.send(case_id, "rtt " + std::to_string(mine) + " " + std::to_string(t0));
    if (!st.is_ok()) {
      live.send_failures.add(outcome(st));
      if (!survivor.connection().is_open())
        live.survivor_reconnects.add(outcome(survivor.reconnect()));
      continue;
    }
    bool got = false;
    const auto deadline = Steady::now() + reply_timeout;
    while (!got && Steady::now() < deadline && !live.stop.load()) {
      auto updates = survivor.poll(Ms(20));
      if (!updates.is_ok()) {
        live.send_failures.add("poll: " + outcome(updates.status()));
        std::this_thread::sleep_for(Ms(50));
        continue;
      }
      for (const auto& u : *updates) {
        if (u.kind == SurvivorUpdate::Kind::kDisconnected) {
          live.survivor_reconnects.add(outcome(survivor.reconnect()));
          continue;
        }
        long long re = 0, sent = 0, t1 = 0;
        if (u.kind != SurvivorUpdate::Kind::kMessage ||
            std::sscanf(u.message.payload.c_str(), "re %lld %lld %lld", &re, &sent, &t1) != 3 ||
            re != mine)
          continue;
        const std::int64_t now = now_ns();
        std::lock_guard lock(live.mu);
        if (phase < kDone) {
          live.rtt[phase].push_back(static_cast<double>(now - t0) / 1e6);
          live.to_survivor[phase].push_back(static_cast<double>(now - t1) / 1e6);
        }
        got = true;
      }
    }
    if (!got && !live.stop.load() && phase < kDone) {
      std::lock_guard lock(live.mu);
      live.lost[phase]++;
    }
  }
}

// Logs in as the responder on a bare connection (challenge, signature).
Status responder_relogin(const Endpoint& endpoint, const crypto::SigningKey& key,
                         const Bytes& certificate, const ConnectionOptions& options) {
  HEARTH_ASSIGN_OR_RETURN(auto conn, Connection::connect(endpoint, options));
  HEARTH_ASSIGN_OR_RETURN(auto challenge, conn->call(protocol::ChallengeRequest{}, Ms(10000)));
  auto sig = crypto::sign_responder_login(key, challenge.challenge);
  auto login = conn->call(
      protocol::ResponderLoginRequest{certificate, Bytes(sig.bytes.begin(), sig.bytes.end())},
      Ms(10000));
  return login.is_ok() ? Status::ok() : login.status();
}

Status survivor_connect(const Endpoint& endpoint, const ConnectionOptions& options) {
  HEARTH_ASSIGN_OR_RETURN(auto conn, Connection::connect(endpoint, options));
  auto pow = conn->call(protocol::PowChallengeRequest{}, Ms(10000));
  return pow.is_ok() ? Status::ok() : pow.status();
}

// ---------------------------------------------------------------------------
// The case-open stream: the integration tests' flows over their raw WsClient.

struct OpenStream {
  Tally outcomes;
  std::vector<double> ms;  // route + open_case, for successful opens
  double cpu = 0;
  double seconds = 0;
};

void open_loop(int port, double rate, int sources, std::size_t first_source,
               const std::atomic<bool>& stop, OpenStream& out) {
  std::size_t next_source = first_source;
  const auto start = Steady::now();
  auto next = start;
  const auto period = std::chrono::duration_cast<Steady::duration>(
      std::chrono::duration<double>(1.0 / std::max(rate, 0.001)));
  while (!stop.load()) {
    std::this_thread::sleep_until(next);
    // Behind schedule (each open takes longer than the period): do not
    // burst to catch up; the achieved rate is reported.
    next = std::max(next + period, Steady::now());
    if (stop.load()) break;
    const auto t0 = Steady::now();
    std::unique_ptr<test::WsClient> ws;
    try {
      ws = test::WsClient::connect(
          static_cast<std::uint16_t>(port), test::WsClient::Options{},
          sources > 0 ? attacker_address_text(next_source++, sources) : std::string());
    } catch (const std::exception&) {
      out.outcomes.add("connect refused");
      continue;
    }
    try {
      auto routed = test::route(*ws, test::envelope_for(protocol::Need::kShelter));
      if (auto code = test::error_code(routed); !code.empty()) {
        out.outcomes.add("route: " + code);
        continue;
      }
      const auto survivor = test::TestSurvivor::make();
      auto opened = test::open_case(*ws, routed, &survivor, "intake");
      if (auto code = test::error_code(opened); !code.empty()) {
        out.outcomes.add("open_case: " + code);
        continue;
      }
      out.outcomes.add("opened");
      out.ms.push_back(ms_since(t0));
    } catch (const std::exception&) {
      out.outcomes.add("connection lost or timed out");
    }
  }
  out.cpu = cpu_seconds(RUSAGE_THREAD);
  out.seconds = std::chrono::duration<double>(Steady::now() - start).count();
}

std::string fmt_ms(const std::vector<double>& v) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%zu samples)",
                percentile(v, 0.5), percentile(v, 0.99), v.empty() ? 0.0 : percentile(v, 1.0),
                v.size());
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const auto run_start = Steady::now();
  CLI::App app{"flood_bench: a live conversation's round trip while hearthd is under attack"};
  int half_open = 2000;
  double silent_share = 0.25;
  int partial_frames = 1000;
  std::size_t frame_announced = 250 * 1024;
  std::size_t frame_sent = 200 * 1024;
  double open_rate = 50;
  int open_threads = 8;
  double danger_at = 0.8;
  double login_rate = 1000;
  int login_conns = 0;
  double duration = 30;
  double quiet = 5;
  double warmup = 3;
  int rtt_interval_ms = 250;
  double probe_interval = 1.0;
  int reopen_ms = 2000;
  int attack_sources = 0;
  std::uint32_t pow_effort = 20000;
  bool quick = false;
  bool strict = false;
  double rss_bound_mib = 0;
  std::string hearthd = HEARTH_HEARTHD_PATH;
  std::string admin = HEARTH_ADMIN_PATH;
  std::string client_tmp = fs::is_directory("/dev/shm") ? "/dev/shm" : "";
  app.add_option("--half-open", half_open, "half-open handshakes held open")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--silent-share", silent_share,
                 "share of the half-open connections that send nothing at all")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--partial-frames", partial_frames, "upgraded connections with a stalled frame")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--frame-announced", frame_announced, "bytes a partial frame's header announces")
      ->check(CLI::Range(std::size_t{126}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--frame-sent", frame_sent, "bytes of it actually sent")->capture_default_str();
  app.add_option("--open-rate", open_rate, "case opens per second (route + open_case, new vault)")
      ->check(CLI::Range(0.0, 10000.0))
      ->capture_default_str();
  app.add_option("--open-threads", open_threads,
                 "threads sharing the case opens (each waits for the server's replies)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--danger-at", danger_at,
                 "when the new danger-now survivor arrives, as a share of --duration (late: the "
                 "case opens have had time to fill the waiting room)")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  app.add_option("--login-rate", login_rate, "failed responder logins per second")
      ->check(CLI::Range(0.0, 100000.0))
      ->capture_default_str();
  app.add_option("--login-conns", login_conns,
                 "connections the failed logins use (0: login-rate / 5, at least 2)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  app.add_option("--duration", duration, "seconds of flood")
      ->check(CLI::Range(1.0, 600.0))
      ->capture_default_str();
  app.add_option("--quiet", quiet, "seconds of round trips before the flood (the baseline)")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--warmup", warmup, "seconds of round trips before the baseline, not counted")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--rtt-interval-ms", rtt_interval_ms, "one live round trip every this often")
      ->check(CLI::Range(50, 10000))
      ->capture_default_str();
  app.add_option("--probe-interval", probe_interval,
                 "seconds between legitimate probes (a survivor connect, a responder re-login)")
      ->check(CLI::Range(0.1, 60.0))
      ->capture_default_str();
  app.add_option("--reopen-ms", reopen_ms, "an attacker reopens a closed connection after this")
      ->check(CLI::Range(10, 60000))
      ->capture_default_str();
  app.add_option("--attack-sources", attack_sources,
                 "attackers connect from this many addresses, 127.0.0.2 onwards (0: all from "
                 "127.0.0.1, the legitimate traffic's address)")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  app.add_option("--pow-effort", pow_effort, "the demo org's proof-of-work effort")
      ->check(CLI::Range(1u, 1u << 24))
      ->capture_default_str();
  app.add_option("--rss-bound-mib", rss_bound_mib,
                 "check hearthd's peak resident set against this (0: report only)")
      ->capture_default_str();
  app.add_flag("--quick", quick,
               "a smoke run: 4 s, tiny counts (checks the program works, not the figures)");
  app.add_flag("--strict", strict, "exit 2 when a target is missed");
  app.add_option("--client-dir", client_tmp,
                 "where the responder's store lives (tmpfs: its fsyncs do not share hearthd's "
                 "disk); empty: beside hearthd's data")
      ->capture_default_str();
  app.add_option("--hearthd", hearthd, "hearthd binary")->capture_default_str();
  app.add_option("--admin", admin, "hearth-admin binary")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    half_open = std::min(half_open, 40);
    partial_frames = std::min(partial_frames, 20);
    frame_sent = std::min(frame_sent, std::size_t{32} * 1024);
    open_rate = std::min(open_rate, 4.0);
    open_threads = 1;
    login_rate = std::min(login_rate, 40.0);
    duration = std::min(duration, 4.0);
    quiet = std::min(quiet, 1.0);
    warmup = std::min(warmup, 0.5);
    probe_interval = std::min(probe_interval, 0.5);
  }
  frame_sent = std::min(frame_sent, frame_announced - 1);
  if (login_conns == 0) login_conns = std::max(2, static_cast<int>(login_rate / 5));
  if (login_rate <= 0) login_conns = 0;
  ::signal(SIGPIPE, SIG_IGN);

  // File descriptors: every attacker's socket here, and as many in hearthd,
  // which inherits this limit.
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  const rlim_t needed = static_cast<rlim_t>(half_open + partial_frames + login_conns + 256);
  if (nofile.rlim_cur < needed)
    die("RLIMIT_NOFILE is " + std::to_string(nofile.rlim_cur) + ", this run needs " +
        std::to_string(needed) + ": raise the hard limit (ulimit -Hn) or scale the attack down");

  char tmpl[] = "/tmp/hearth-flood-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  const fs::path dir = tmpl;
  g_remove.push_back(dir);
  const std::string demo = admin + " demo " + (dir / "org").string() +
                           " --port 0 --metrics-port 0 --pow-effort " + std::to_string(pow_effort) +
                           " >/dev/null";
  if (std::system(demo.c_str()) != 0) die("hearth-admin demo failed");
  const fs::path org = dir / "org";
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);
  Server server;
  start_server(org, hearthd, server);
  const Endpoint endpoint{"ws://127.0.0.1:" + std::to_string(server.port) + "/v1/ws", {}};
  std::printf(
      "flood_bench: hearthd pid %d on 127.0.0.1:%d (default limits, PoW effort %u), "
      "RLIMIT_NOFILE %llu, %ld cores, load average %s\n",
      server.pid, server.port, pow_effort, static_cast<unsigned long long>(nofile.rlim_cur),
      ::sysconf(_SC_NPROCESSORS_ONLN), load.substr(0, load.find(' ')).c_str());
  std::printf(
      "attack: %d half-open handshakes (%.0f%% silent), %d partial frames (%zu of %zu bytes), "
      "case opens at %.0f/s, failed logins at %.0f/s on %d connections, for %.0f s, from %s\n",
      half_open, silent_share * 100, partial_frames, frame_sent, frame_announced, open_rate,
      login_rate, login_conns, duration,
      attack_sources > 0
          ? (std::to_string(attack_sources) + (attack_sources == 1 ? " address" : " addresses") +
             " (127.0.0.2 onwards)")
                .c_str()
          : "127.0.0.1 (the legitimate traffic's address)");
  std::fflush(stdout);

  std::ifstream pass_in(org / "responder-ana.passphrase");
  std::string passphrase;
  std::getline(pass_in, passphrase);
  // The responder's store is saved (with fsync) before anything is
  // acknowledged. A real responder's machine has its own disk; here it would
  // share hearthd's, and its fsyncs dominated the round trip (20-50 ms on this
  // machine's busy disk). So the store lives on tmpfs when there is one.
  fs::path store_dir = org / "responder-ana";
  fs::path client_dir;
  if (!client_tmp.empty()) {
    std::string t = (fs::path(client_tmp) / "hearth-flood-bench-client-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) die("mkdtemp in " + client_tmp);
    client_dir = t;
    g_remove.push_back(client_dir);
    fs::copy(store_dir, client_dir / "responder-ana", fs::copy_options::recursive);
    store_dir = client_dir / "responder-ana";
  }
  auto store = ResponderStore::open(store_dir, passphrase);
  if (!store.is_ok()) die("responder store", store.status());
  auto root_in = std::ifstream(org / "org" / "root.pub");
  std::string root_text((std::istreambuf_iterator<char>(root_in)), {});
  auto org_root = cli::parse_org_root(root_text);
  if (!org_root.is_ok()) die("org root", org_root.status());
  auto signing_key = (*store)->signing_key();
  if (!signing_key.is_ok()) die("responder key", signing_key.status());
  const Bytes certificate = (*store)->state().certificate;

  // The live pair: a survivor's case, taken by the responder.
  auto responder = ResponderSession::login(endpoint, **store);
  if (!responder.is_ok()) die("responder login", responder.status());
  if (auto st = (*responder)->set_presence(protocol::Presence::kAvailable, 4); !st.is_ok())
    die("presence", st);
  protocol::RouteEnvelope today{
      {protocol::Need::kLegal}, protocol::Urgency::kToday, {"en"}, protocol::Mode::kLive, {}};
  auto live_case = SurvivorSession::start(endpoint, *org_root, today, "hello");
  if (!live_case.is_ok()) die("survivor start", live_case.status());
  auto& survivor = *live_case->session;
  {
    auto taken = (*responder)->take_next();
    if (!taken.is_ok() || !taken->has_value()) die("take_next", taken.status());
    bool intake = false;
    for (int i = 0; i < 300 && !intake; ++i) {
      auto updates = (*responder)->poll(Ms(100));
      if (!updates.is_ok()) die("responder poll", updates.status());
      for (const auto& u : *updates) intake |= u.kind == ResponderUpdate::Kind::kNewCase;
    }
    if (!intake) die("the intake copy never arrived");
    for (int i = 0; i < 100 && !survivor.vault().find(live_case->case_id)->claimed_by; ++i)
      if (auto u = survivor.poll(Ms(100)); !u.is_ok()) die("survivor poll", u.status());
  }

  Live live;
  live.phase = kDone;  // the warm-up's round trips are not counted
  std::thread responder_thread([&] { responder_loop(**responder, live); });
  std::thread survivor_thread(
      [&] { survivor_loop(survivor, live_case->case_id, live, Ms(rtt_interval_ms), Ms(10000)); });
  // Warm-up, not counted: hearthd's fresh database and WAL grow over the first
  // commits (each fsync then also commits file metadata), which made the
  // first seconds' round trips several times slower than later ones.
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  live.phase = kQuiet;
  std::this_thread::sleep_for(std::chrono::duration<double>(quiet));

  // The flood.
  const long rss_before = proc_status_kib(server.pid, "VmRSS");
  const double hearthd_cpu0 = proc_cpu_seconds(server.pid);
  const double bench_cpu0 = cpu_seconds(RUSAGE_SELF);
  std::atomic<bool> stop_attack{false};
  RawOptions raw;
  raw.port = server.port;
  raw.half_open = half_open;
  raw.silent_share = silent_share;
  raw.partial_frames = partial_frames;
  raw.frame_announced = frame_announced;
  raw.frame_sent = frame_sent;
  raw.login_rate = login_rate;
  raw.login_conns = login_conns;
  raw.reopen_delay = Ms(reopen_ms);
  raw.attack_sources = attack_sources;
  {
    const Bytes bad_signature = crypto::random_bytes(64);
    raw.login_wire = masked_text_frame(protocol::encode(
                         protocol::RequestFrame{1, protocol::ChallengeRequest{}})) +
                     masked_text_frame(protocol::encode(protocol::RequestFrame{
                         2, protocol::ResponderLoginRequest{certificate, bad_signature}}));
  }
  RawFlood flood(raw);
  std::vector<OpenStream> opens(static_cast<std::size_t>(open_rate > 0 ? open_threads : 0));
  live.phase = kFlood;
  const auto flood_start = Steady::now();
  std::thread raw_thread([&] { flood.run(stop_attack); });
  std::vector<std::thread> open_threads_run;
  for (std::size_t t = 0; t < opens.size(); ++t)
    open_threads_run.emplace_back([&, t, out = &opens[t]] {
      open_loop(server.port, open_rate / open_threads, attack_sources, t * 7919, stop_attack, *out);
    });

  // Legitimate probes, a fresh survivor at 30% of the flood and a new
  // danger-now survivor at --danger-at.
  Tally probe_connect, probe_relogin, fresh_survivor, danger_survivor;
  std::optional<double> danger_routed_ms;
  int danger_attempts = 0;
  ConnectionOptions probe_options;
  probe_options.connect_timeout = Ms(5000);
  std::thread prober([&] {
    const auto end = flood_start + std::chrono::duration_cast<Steady::duration>(
                                       std::chrono::duration<double>(duration));
    const auto at = [&](double share) {
      return flood_start + std::chrono::duration_cast<Steady::duration>(
                               std::chrono::duration<double>(duration * share));
    };
    bool fresh_done = false, danger_done = false;
    auto next = flood_start + std::chrono::duration_cast<Steady::duration>(
                                  std::chrono::duration<double>(std::min(1.0, duration / 4)));
    while (Steady::now() < end) {
      std::this_thread::sleep_until(std::min(next, end));
      if (Steady::now() >= end) break;
      next += std::chrono::duration_cast<Steady::duration>(
          std::chrono::duration<double>(probe_interval));
      probe_connect.add(outcome(survivor_connect(endpoint, probe_options)));
      probe_relogin.add(
          outcome(responder_relogin(endpoint, *signing_key, certificate, probe_options)));
      if (!fresh_done && Steady::now() >= at(0.3)) {
        fresh_done = true;
        auto started = SurvivorSession::start(endpoint, *org_root, today, "hello");
        fresh_survivor.add(started.is_ok() ? "ok" : outcome(started.status()));
      }
      if (!danger_done && Steady::now() >= at(danger_at)) {
        danger_done = true;
        // A real client tries again for a while; the target is 5 s in all.
        const auto t0 = Steady::now();
        protocol::RouteEnvelope urgent{{protocol::Need::kImmediateSafety},
                                       protocol::Urgency::kDangerNow,
                                       {"en"},
                                       protocol::Mode::kLive,
                                       {}};
        std::optional<SurvivorSession::Started> started;
        while (!started && ms_since(t0) < 5000) {
          ++danger_attempts;
          auto s = SurvivorSession::start(endpoint, *org_root, urgent, "help");
          danger_survivor.add(s.is_ok() ? "ok" : outcome(s.status()));
          if (s.is_ok()) {
            started = std::move(s).value();
          } else {
            std::this_thread::sleep_for(Ms(250));
          }
        }
        if (started) {
          danger_routed_ms = ms_since(t0);
          std::unique_lock lock(live.mu);
          live.take_t0 = t0;
          live.take_deadline = t0 + Ms(10000);
          live.take_wanted = started->case_id;
          // Bounded even if the responder thread never gets to it (its
          // connection down, a take_next waiting for its timeout).
          live.take_done.wait_until(lock, live.take_deadline + Ms(2000), [&] {
            return live.taken_at_ms || !live.take_wanted || live.stop.load();
          });
          if (!live.taken_at_ms) {
            live.take_wanted.reset();
            if (live.take_result.empty()) live.take_result = "the responder never got to it";
          }
        }
      }
    }
  });

  // hearthd's memory and descriptors while the flood runs.
  long rss_peak = rss_before;
  long fds_peak = 0;
  int samples = 0;
  while (ms_since(flood_start) < duration * 1000) {
    std::this_thread::sleep_for(Ms(200));
    rss_peak = std::max(rss_peak, proc_status_kib(server.pid, "VmRSS"));
    if (++samples % 5 == 0) fds_peak = std::max(fds_peak, open_fds(server.pid));
  }
  prober.join();
  live.phase = kDone;
  stop_attack = true;
  raw_thread.join();
  for (auto& t : open_threads_run) t.join();
  // One tally for every case-open thread.
  Tally open_outcomes;
  std::vector<double> open_ms;
  double open_cpu = 0, open_seconds = 0;
  for (const auto& o : opens) {
    for (const auto& [what, n] : o.outcomes.counts()) open_outcomes.add(what, n);
    open_ms.insert(open_ms.end(), o.ms.begin(), o.ms.end());
    open_cpu += o.cpu;
    open_seconds = std::max(open_seconds, o.seconds);
  }
  const double flood_s = std::chrono::duration<double>(Steady::now() - flood_start).count();
  const double hearthd_cpu = proc_cpu_seconds(server.pid) - hearthd_cpu0;
  const double bench_cpu = cpu_seconds(RUSAGE_SELF) - bench_cpu0;
  const long hwm = proc_status_kib(server.pid, "VmHWM");
  const long rss_after = proc_status_kib(server.pid, "VmRSS");
  live.stop = true;
  {
    std::lock_guard lock(live.mu);
    live.take_done.notify_all();
  }
  survivor_thread.join();
  responder_thread.join();
  // After the flood: can a survivor connect at once?
  Tally after_connect;
  after_connect.add(outcome(survivor_connect(endpoint, probe_options)));

  // The report.
  auto mib = [](long kib) { return static_cast<double>(kib) / 1024.0; };
  std::printf(
      "\nlive round trip (survivor sends, responder has it and replies, survivor has it):\n");
  std::printf("  quiet (%.0f s):  %s\n", quiet, fmt_ms(live.rtt[kQuiet]).c_str());
  std::printf("    survivor -> responder has it: %s\n", fmt_ms(live.to_responder[kQuiet]).c_str());
  std::printf("    responder -> survivor has it: %s\n", fmt_ms(live.to_survivor[kQuiet]).c_str());
  std::printf("  flood (%.0f s): %s, no reply within 10 s: %ld\n", flood_s,
              fmt_ms(live.rtt[kFlood]).c_str(), live.lost[kFlood]);
  std::printf("    survivor -> responder has it: %s\n", fmt_ms(live.to_responder[kFlood]).c_str());
  std::printf("    responder -> survivor has it: %s\n", fmt_ms(live.to_survivor[kFlood]).c_str());
  std::printf("  failures: survivor %s; responder %s\n", live.send_failures.str().c_str(),
              live.responder_failures.str().c_str());

  const Tally* legit[] = {&probe_connect,
                          &probe_relogin,
                          &fresh_survivor,
                          &danger_survivor,
                          &live.survivor_reconnects,
                          &live.responder_reconnects};
  long attempted = 0, succeeded = 0, served = 0;
  for (const Tally* t : legit) {
    attempted += t->total();
    succeeded += reached(*t);
    served += t->of("ok");
  }
  std::printf(
      "\nlegitimate connects during the flood: %ld of %ld reached the server, %ld of them "
      "were served (ok)\n",
      succeeded, attempted, served);
  std::printf("  survivor connect + pow_challenge: %s\n", probe_connect.str().c_str());
  std::printf("  responder re-login:               %s\n", probe_relogin.str().c_str());
  std::printf("  fresh survivor opens a case:      %s\n", fresh_survivor.str().c_str());
  std::printf("  danger-now survivor opens a case: %s\n", danger_survivor.str().c_str());
  std::printf("  live survivor reconnects: %s; live responder reconnects: %s\n",
              live.survivor_reconnects.str().c_str(), live.responder_reconnects.str().c_str());
  std::printf("  a survivor connect right after the flood: %s\n", after_connect.str().c_str());
  std::optional<double> taken_ms;
  {
    std::lock_guard lock(live.mu);
    taken_ms = live.taken_at_ms;
    if (danger_routed_ms)
      std::printf("danger-now survivor: case open %.0f ms after the first try (%d tries), %s%s\n",
                  *danger_routed_ms, danger_attempts,
                  taken_ms ? "taken by the responder after " : "not taken: ",
                  taken_ms ? (std::to_string(static_cast<long>(*taken_ms)) + " ms").c_str()
                           : live.take_result.c_str());
    else
      std::printf("danger-now survivor: no case after %d tries in 5 s\n", danger_attempts);
  }

  std::printf("\nattackers (%.1f s):\n", flood.seconds());
  for (int k = 0; k < kKinds; ++k) {
    const KindStats& s = flood.stats(static_cast<Kind>(k));
    if (s.connects == 0) continue;
    std::string refusals, codes;
    for (const auto& [code, n] : s.http_refusals)
      refusals += " HTTP " + code + " x" + std::to_string(n);
    for (const auto& [code, n] : s.close_codes)
      codes += " " + std::to_string(code) + " x" + std::to_string(n);
    std::printf(
        "  %-15s connects %ld, failed %ld, established %ld, at once max %ld / at the end %ld, "
        "closed by server %ld%s%s%s%s",
        kKindNames[k], s.connects, s.connect_failed, s.established, s.max_open, s.open_now,
        s.closed_by_server, refusals.empty() ? "" : ", refused:", refusals.c_str(),
        codes.empty() ? "" : ", close codes:", codes.c_str());
    if (static_cast<Kind>(k) == Kind::kPartialFrame)
      std::printf(", upgraded %ld, frames stalled %ld", s.upgraded, s.stalled);
    if (static_cast<Kind>(k) == Kind::kLogin) std::printf(", upgraded %ld", s.upgraded);
    std::printf("\n");
  }
  {
    std::string replies;
    for (const auto& [code, n] : flood.login_replies())
      replies += " " + code + " x" + std::to_string(n);
    std::printf(
        "  failed logins: %ld attempts (%.0f/s; %ld not made, no free connection), "
        "replies:%s\n",
        flood.login_attempts(), static_cast<double>(flood.login_attempts()) / flood.seconds(),
        flood.login_missed(), replies.empty() ? " none" : replies.c_str());
  }
  std::printf("  case opens (%d threads): %ld tried (%.1f/s): %s; connect + route + open_case %s\n",
              open_threads, open_outcomes.total(),
              open_seconds > 0 ? static_cast<double>(open_outcomes.total()) / open_seconds : 0,
              open_outcomes.str().c_str(), fmt_ms(open_ms).c_str());

  std::printf(
      "\nhearthd: resident set %.1f MiB before, peak %.1f MiB during the flood (VmHWM "
      "%.1f MiB), %.1f MiB after; at most %ld descriptors open; CPU %.1f s in %.0f s "
      "(%.0f%% of one core)\n",
      mib(rss_before), mib(rss_peak), mib(hwm), mib(rss_after), fds_peak, hearthd_cpu, flood_s,
      100 * hearthd_cpu / flood_s);
  std::printf(
      "bench CPU during the flood: %.1f s (%.0f%% of one core): raw attackers %.1f s, "
      "case opens (PoW) %.1f s, the live pair and probes (client library) %.1f s\n",
      bench_cpu, 100 * bench_cpu / flood_s, flood.cpu(), open_cpu,
      std::max(0.0, bench_cpu - flood.cpu() - open_cpu));

  const double p99 = percentile(live.rtt[kFlood], 0.99);
  const bool all_connects = attempted > 0 && succeeded == attempted && served == attempted;
  const bool rtt_ok = !live.rtt[kFlood].empty() && p99 < 50 && live.lost[kFlood] == 0;
  const bool danger_ok = taken_ms && *taken_ms <= 5000;
  const bool rss_ok = rss_bound_mib <= 0 || mib(std::max(rss_peak, hwm)) <= rss_bound_mib;
  auto mark = [](bool ok) { return ok ? "[met] " : "[MISSED]"; };
  std::printf(
      "\ntargets:\n  %s every legitimate connect succeeds (%ld of %ld reached, %ld "
      "served)\n",
      mark(all_connects), succeeded, attempted, served);
  std::printf("  %s live round trip p99 < 50 ms under flood (%.1f ms, %ld lost)\n", mark(rtt_ok),
              p99, live.lost[kFlood]);
  std::printf("  %s new danger-now survivor routed and taken within 5 s\n", mark(danger_ok));
  if (rss_bound_mib > 0)
    std::printf("  %s hearthd peak resident set <= %.0f MiB (%.1f MiB)\n", mark(rss_ok),
                rss_bound_mib, mib(std::max(rss_peak, hwm)));
  std::printf("whole run: %.1f s\n",
              std::chrono::duration<double>(Steady::now() - run_start).count());

  // Stop the server before removing its directory.
  ::kill(server.pid, SIGTERM);
  ::waitpid(server.pid, nullptr, 0);
  server.pid = -1;
  g_hearthd = -1;
  fs::remove_all(dir);
  if (!client_dir.empty()) fs::remove_all(client_dir);
  if (strict && !(all_connects && rtt_ok && danger_ok && rss_ok)) return 2;
  return 0;
}

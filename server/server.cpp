#include "server/server.h"

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <csignal>
#include <fstream>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/log.h"
#include "crypto/sodium_init.h"
#include "host/case_record.h"
#include "host/retention.h"
#include "host/static_site.h"
#include "server/metrics.h"
#include "server/relay_hub.h"
#include "server/services.h"
#include "server/session.h"
#include "server/source_key.h"
#include "server/ws_session.h"
#include "storage/storage.h"
#include "storage/storage_thread.h"

namespace hearth::server {

namespace asio = boost::asio;
using asio::ip::tcp;
using log::logger;

namespace {

// Retention's sweep, hourly: undelivered envelopes, closed and parked
// cases, vaults left with no case.
constexpr UnixSeconds kExpiryInterval = 3600;
// Parked cases one hourly sweep deletes at most (the rest wait an hour): one
// storage job stays short.
constexpr std::size_t kMaxParkedPerSweep = 2000;
constexpr auto kDrainDeadline = std::chrono::seconds(5);
// A refresh left pending (changes closer together than the hub's spacing)
// runs within this; with no change at all, escalation timeouts and away
// grace are still checked every kTriageIdle.
constexpr auto kTriageInterval = std::chrono::milliseconds(250);
constexpr auto kTriageIdle = std::chrono::milliseconds(2000);

Result<Bytes> read_roster_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return error(Code::kNotFound, "roster file: not found or not a regular file");
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return error(Code::kUnavailable, "roster file: cannot be read");
  if (size > storage::kMaxRosterBytes) return error(Code::kLimitExceeded, "roster file: too large");
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kUnavailable, "roster file: cannot be read");
  Bytes bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in.gcount()) != size)
    return error(Code::kUnavailable, "roster file: short read");
  return bytes;
}

struct LoadedRoster {
  std::shared_ptr<const RosterState> state;
  bool expired = false;
};

// Reads and verifies the roster file. With `allow_expired`, a roster whose
// chain verifies but whose validity has passed is accepted and flagged.
Result<LoadedRoster> load_roster(const std::filesystem::path& path,
                                 const crypto::SigningPublicKey& org_root, UnixSeconds now,
                                 const std::optional<crypto::RosterPin>& pin, bool allow_expired) {
  HEARTH_ASSIGN_OR_RETURN(Bytes bytes, read_roster_bytes(path));
  auto roster = crypto::SignedRoster::decode(bytes);
  if (!roster.is_ok()) return error(Code::kInvalidArgument, "roster file: not a signed roster");
  auto verified = crypto::verify_roster(org_root, *roster, now, pin);
  bool expired = false;
  if (!verified.is_ok() && verified.status().code() == Code::kExpired && allow_expired) {
    // The chain itself may be sound: check it at the time the roster was issued.
    verified = crypto::verify_roster(org_root, *roster, roster->contents.issued_at, pin);
    expired = verified.is_ok();
  }
  if (!verified.is_ok())
    return error(verified.status().code(), "roster file: " + verified.status().message());
  auto state = std::make_shared<RosterState>(RosterState{std::move(*verified), std::move(bytes)});
  return LoadedRoster{std::move(state), expired};
}

Result<tcp::endpoint> endpoint_of(const ListenAddress& e) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(e.address, ec);
  if (ec) return error(Code::kInvalidArgument, "not an IP address");
  return tcp::endpoint(address, e.port);
}

Status bind(tcp::acceptor& acceptor, const ListenAddress& e, const char* what) {
  HEARTH_ASSIGN_OR_RETURN(tcp::endpoint ep, endpoint_of(e));
  boost::system::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return error(Code::kUnavailable, std::string(what) + ": cannot listen: " + ec.message());
  return Status::ok();
}

// The waiting room's bounds from the config (docs/routing.md, "The room's bounds").
triage::RoomLimits room_limits(const Limits& limits) {
  triage::RoomLimits room;
  room.max_waiting = limits.max_waiting_cases;
  room.reserved_urgent = limits.max_waiting_cases * limits.danger_now_reserved_percent / 100;
  room.park_after_s = limits.park_away_after.count();
  return room;
}

}  // namespace

Status disable_core_dumps() {
  rlimit limit{0, 0};
  if (setrlimit(RLIMIT_CORE, &limit) != 0)
    return error(Code::kUnavailable, "cannot set RLIMIT_CORE to 0");
  return Status::ok();
}

Result<triage::Rules> load_rules_file(const Config& config) {
  if (!config.rules_file) return triage::parse_rules(triage::default_rules_json());
  auto rules = triage::load_rules(config.rules_file->string());
  if (!rules.is_ok())
    return error(rules.status().code(), "rules_file: " + rules.status().message());
  return rules;
}

Status check_roster_file(const Config& config, bool* expired) {
  auto root = crypto::SigningPublicKey::from(config.org_root_key);
  if (!root.is_ok()) return error(Code::kInvalidArgument, "org_root_key: wrong length");
  HEARTH_ASSIGN_OR_RETURN(LoadedRoster loaded,
                          load_roster(config.roster_file, *root, SystemClock().now(), std::nullopt,
                                      /*allow_expired=*/true));
  if (expired != nullptr) *expired = loaded.expired;
  return Status::ok();
}

struct Server::Impl {
  explicit Impl(Config c)
      : config(std::move(c)),
        pow(config.pow, config.limits.max_waiting_cases, room_limits(config.limits).reserved_urgent,
            clock, &metrics),
        responder_login_failures(config.limits,
                                 std::chrono::steady_clock::now().time_since_epoch()),
        vault_login_failures(config.limits, std::chrono::steady_clock::now().time_since_epoch()),
        io(static_cast<int>(config.io_threads)),
        control(asio::make_strand(io)),
        public_acceptor(control),
        metrics_acceptor(control),
        signals(control),
        pow_timer(control),
        expiry_timer(control),
        drain_timer(control),
        triage_timer(control) {}

  Config config;
  SystemClock clock;
  Metrics metrics;
  RelayHub hub{clock};
  PowState pow;
  Admission admission{config.limits, metrics};
  std::atomic<bool> draining{false};
  PrekeyReservations reservations;
  FailedLoginBudget responder_login_failures;
  FailedLoginBudget vault_login_failures;
  crypto::SigningPublicKey org_root;
  std::unique_ptr<storage::StorageThread> storage;
  std::unique_ptr<Services> services;
  // Connections' source keys (a random key, made here, never written).
  std::optional<SourceKeys> source_keys;
  std::optional<StaticSite> site;  // web.root, loaded once; outlives io's sessions

  asio::io_context io;
  // The server's own objects below (acceptors, signals, timers) are not
  // thread-safe and io runs on io_threads threads: every handler that touches
  // them (accept loops, signal and timer handlers, the shutdown) runs on this
  // one strand, so begin_shutdown() never closes an acceptor or cancels a
  // timer while another thread is using it.
  asio::strand<asio::io_context::executor_type> control;
  std::optional<asio::ssl::context> tls;
  tcp::acceptor public_acceptor;
  tcp::acceptor metrics_acceptor;
  asio::signal_set signals;
  asio::steady_timer pow_timer;
  asio::steady_timer expiry_timer;
  asio::steady_timer drain_timer;
  asio::steady_timer triage_timer;
  std::uint16_t public_port = 0;
  std::uint16_t metrics_port = 0;
  int exit_code = 0;

  Status start();
  Status load_state();
  Status load_site();
  Status setup_tls();
  asio::awaitable<void> accept_public();
  asio::awaitable<void> accept_metrics();
  asio::awaitable<void> serve_metrics(tcp::socket socket);
  void wait_signal();
  void reload_roster();
  void reload_rules();
  void schedule_triage();
  void begin_shutdown();
  void wait_drained(std::chrono::steady_clock::time_point deadline);
  void schedule_pow_rotation();
  void schedule_expiry();
};

Status Server::Impl::start() {
  crypto::ensure_initialized();
  source_keys.emplace();
  auto root = crypto::SigningPublicKey::from(config.org_root_key);
  if (!root.is_ok()) return error(Code::kInvalidArgument, "org_root_key: wrong length");
  org_root = *root;

  HEARTH_TRY(make_private_directory(config.data_dir));
  storage::StorageOptions options;
  options.database_path = config.database;
  options.key_path = config.key_file;
  auto opened = storage::Storage::open(options);
  if (!opened.is_ok())
    return error(opened.status().code(), "database: " + opened.status().message());
  if (std::size_t n = (*opened)->unindexed_vaults(); n > 0) {
    // Written before one-vault-per-login-key by an open_case that proved
    // nothing: a vault under another login id with a survivor's key. Nobody
    // can log into such a row without the survivor's key, so it is left be.
    logger().warn("vaults_without_key_index", {{"count", n}});
  }
  storage::GroupCommitOptions commit;
  commit.on_commit = [m = &metrics](std::chrono::nanoseconds d, std::size_t) {
    m->observe_commit(d);
  };
  storage = std::make_unique<storage::StorageThread>(std::move(*opened), commit);
  services = std::make_unique<Services>(
      Services{config, hub, *storage, metrics, pow, clock, org_root, draining, reservations,
               responder_login_failures, vault_login_failures, admission});

  HEARTH_TRY(load_state());
  HEARTH_TRY(load_site());
  HEARTH_TRY(setup_tls());

  HEARTH_TRY(bind(public_acceptor, config.listen, "listen"));
  public_port = public_acceptor.local_endpoint().port();
  if (config.metrics_enabled) {
    HEARTH_TRY(bind(metrics_acceptor, config.metrics, "metrics"));
    metrics_port = metrics_acceptor.local_endpoint().port();
  }
  return Status::ok();
}

Status Server::Impl::load_state() {
  UnixSeconds now = clock.now();
  HEARTH_ASSIGN_OR_RETURN(triage::Rules rules, load_rules_file(config));
  logger().info("rules_loaded", {{"version", rules.version}});
  hub.set_rules(std::move(rules));
  hub.set_room(room_limits(config.limits));
  HEARTH_ASSIGN_OR_RETURN(LoadedRoster loaded,
                          load_roster(config.roster_file, org_root, now, std::nullopt,
                                      /*allow_expired=*/true));
  const auto& verified = loaded.state->verified;
  if (loaded.expired) {
    logger().error("roster_expired",
                   {{"epoch", verified.epoch()},
                    {"expired_seconds_ago", now - verified.expires_at()},
                    {"action", "sign and install a new roster: clients refuse an expired one"}});
  }
  // Store the roster when it is newer than the stored one; an older file is a
  // rollback clients would refuse, so the server refuses it too.
  auto latest =
      storage->read_future([](storage::Stores& s) { return s.roster.latest_roster(); }).get();
  if (latest.is_ok() && static_cast<std::uint64_t>(latest->epoch) > verified.epoch())
    return error(Code::kConflict, "roster file: epoch " + std::to_string(verified.epoch()) +
                                      " is older than the stored roster's epoch " +
                                      std::to_string(latest->epoch));
  if (!latest.is_ok() && latest.status().code() != Code::kNotFound)
    return error(latest.status().code(), "database: " + latest.status().message());
  if (!latest.is_ok() || static_cast<std::uint64_t>(latest->epoch) < verified.epoch()) {
    auto epoch = static_cast<std::int64_t>(verified.epoch());
    Bytes encoded = loaded.state->encoded;
    HEARTH_TRY(storage
                   ->write_future([epoch, encoded, now](storage::Stores& s) {
                     return s.roster.put_roster(epoch, encoded, now);
                   })
                   .get());
  }
  hub.set_roster(loaded.state);
  logger().info("roster_loaded", {{"epoch", verified.epoch()}});

  // Certificates responders logged in with: routing offers only these.
  auto certs =
      storage->read_future([](storage::Stores& s) { return s.roster.certificates(); }).get();
  if (!certs.is_ok()) return error(certs.status().code(), "database: " + certs.status().message());
  for (const auto& stored : *certs) {
    auto cert = crypto::ResponderCertificate::decode(stored.certificate);
    if (!cert.is_ok()) continue;
    hub.remember_certificate(KnownCertificate{*cert, stored.certificate, cert->hash()});
  }

  // Open cases: the in-memory index.
  auto rows = storage->read_future([](storage::Stores& s) { return s.cases.list_open(); }).get();
  if (!rows.is_ok()) return error(rows.status().code(), "database: " + rows.status().message());
  std::vector<OpenCase> cases;
  std::size_t damaged = 0;
  for (auto& row : *rows) {
    auto record = decode_case_record(row.fields);
    if (!record.is_ok()) {
      ++damaged;
      continue;
    }
    cases.push_back(OpenCase{row.id, row.version, row.opened_minute, std::move(*record)});
  }
  if (damaged > 0) logger().warn("damaged_case_records", {{"count", damaged}});
  logger().info("cases_loaded", {{"open", cases.size()}});
  hub.load_cases(cases);
  // The waiting room: unclaimed cases wait again (their survivors away until
  // they log in), claimed ones count towards their responder's load.
  for (const auto& c : cases) hub.track_case(c);
  return Status::ok();
}

Status Server::Impl::load_site() {
  if (!config.web_root) return Status::ok();
  HEARTH_ASSIGN_OR_RETURN(StaticSite loaded, StaticSite::load(*config.web_root));
  site.emplace(std::move(loaded));
  services->site = &*site;
  // The hash `hearth-admin web-hash` prints: an org compares it with the one
  // it published. No path is logged.
  log::PublicDigest digest{};
  std::copy(site->hash().begin(), site->hash().end(), digest.bytes.begin());
  logger().info("web_root_loaded", {{"files", site->file_count()},
                                    {"bytes", site->total_bytes()},
                                    {"gzip_bytes", site->gzip_bytes()},
                                    {"hash", digest}});
  return Status::ok();
}

Status Server::Impl::setup_tls() {
  if (!config.tls) return Status::ok();
  tls.emplace(asio::ssl::context::tls_server);
  boost::system::error_code ec;
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                   ec);
  tls->use_certificate_chain_file(config.tls->certificate.string(), ec);
  if (ec) return error(Code::kInvalidArgument, "tls.certificate: cannot load the PEM file");
  tls->use_private_key_file(config.tls->private_key.string(), asio::ssl::context::pem, ec);
  if (ec) return error(Code::kInvalidArgument, "tls.private_key: cannot load the PEM file");
  return Status::ok();
}

asio::awaitable<void> Server::Impl::accept_public() {
  for (;;) {
    boost::system::error_code ec;
    asio::any_io_executor strand = asio::make_strand(io);
    tcp::socket socket = co_await public_acceptor.async_accept(
        strand, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!public_acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      logger().warn("accept_failed");
      asio::steady_timer pause(control, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Frames are small and interactive: without TCP_NODELAY, Nagle's
    // algorithm holds a push behind the peer's delayed ACK (~40 ms).
    socket.set_option(tcp::no_delay(true), ec);
    // The peer's source (server/source_key.h): an opaque key, the address
    // itself goes no further than this line. A peer already gone has no
    // address: it counts as the source of all such (the zero key).
    Admission::SourceKey source{};
    if (auto peer = socket.remote_endpoint(ec); !ec) source = source_keys->of(peer.address());
    // start() takes an admission ticket before anything is read: past
    // max_handshakes the oldest pending handshake of the source holding the
    // most is closed at once.
    if (tls) {
      auto session =
          std::make_shared<WsSession<TlsStream>>(*services, strand, std::move(socket), *tls);
      WsSession<TlsStream>::start(std::move(session), source);
    } else {
      auto session = std::make_shared<WsSession<PlainStream>>(*services, strand, std::move(socket));
      WsSession<PlainStream>::start(std::move(session), source);
    }
  }
}

asio::awaitable<void> Server::Impl::accept_metrics() {
  for (;;) {
    boost::system::error_code ec;
    // Each metrics request on its own strand, off the control strand.
    asio::any_io_executor strand = asio::make_strand(io);
    tcp::socket socket = co_await metrics_acceptor.async_accept(
        strand, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!metrics_acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      asio::steady_timer pause(control, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(strand, serve_metrics(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::Impl::serve_metrics(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(5));
  beast::flat_buffer buffer;
  http::request<http::empty_body> req;
  boost::system::error_code ec;
  co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "hearthd");
  res.keep_alive(false);
  if (req.method() == http::verb::get && req.target() == "/metrics") {
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics.render(hub.case_count(), storage->stats());
  } else {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "not found\n";
  }
  res.prepare_payload();
  co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

void Server::Impl::wait_signal() {
  signals.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      reload_roster();
      reload_rules();
      wait_signal();
      return;
    }
    begin_shutdown();
  });
}

void Server::Impl::reload_rules() {
  auto rules = load_rules_file(config);
  if (!rules.is_ok()) {
    logger().error("rules_reload_refused", {{"status", rules.status()}});
    return;
  }
  std::uint64_t version = rules->version;
  hub.set_rules(std::move(*rules));
  logger().info("rules_reloaded", {{"version", version}});
  hub.refresh();
}

void Server::Impl::schedule_triage() {
  triage_timer.expires_after(kTriageInterval);
  triage_timer.async_wait([this](boost::system::error_code ec) {
    if (ec || draining) return;
    hub.refresh_due(kTriageIdle);
    schedule_triage();
  });
}

void Server::Impl::reload_roster() {
  auto current = hub.roster();
  std::optional<crypto::RosterPin> pin;
  if (current) pin = current->verified.pin();
  auto loaded = load_roster(config.roster_file, org_root, clock.now(), pin,
                            /*allow_expired=*/false);
  if (!loaded.is_ok()) {
    logger().error("roster_reload_refused", {{"status", loaded.status()}});
    return;
  }
  const auto& verified = loaded->state->verified;
  if (current && verified.hash() == current->verified.hash()) {
    logger().info("roster_unchanged", {{"epoch", verified.epoch()}});
    return;
  }
  auto epoch = static_cast<std::int64_t>(verified.epoch());
  Bytes encoded = loaded->state->encoded;
  UnixSeconds now = clock.now();
  storage->write([epoch, encoded,
                  now](storage::Stores& s) { return s.roster.put_roster(epoch, encoded, now); },
                 [](Status st) {
                   if (!st.is_ok()) logger().error("roster_store_failed", {{"status", st}});
                 });
  hub.set_roster(loaded->state);
  logger().info("roster_reloaded", {{"epoch", verified.epoch()}});
  auto state = loaded->state;
  hub.for_each_peer([&](Peer& p) { p.roster_changed(state); });
}

void Server::Impl::begin_shutdown() {
  if (draining.exchange(true)) return;
  logger().info("shutting_down", {{"connections", metrics.connections_open.load()}});
  boost::system::error_code ec;
  public_acceptor.close(ec);
  metrics_acceptor.close(ec);
  signals.cancel(ec);
  pow_timer.cancel();
  expiry_timer.cancel();
  triage_timer.cancel();
  hub.for_each_peer([](Peer& p) { p.shut_down(); });
  wait_drained(std::chrono::steady_clock::now() + kDrainDeadline);
}

void Server::Impl::wait_drained(std::chrono::steady_clock::time_point deadline) {
  if (metrics.connections_open.load() <= 0 || std::chrono::steady_clock::now() >= deadline) {
    if (metrics.connections_open.load() > 0)
      logger().warn("drain_deadline", {{"connections", metrics.connections_open.load()}});
    io.stop();
    return;
  }
  drain_timer.expires_after(std::chrono::milliseconds(20));
  drain_timer.async_wait([this, deadline](boost::system::error_code ec) {
    if (ec) return;
    wait_drained(deadline);
  });
}

void Server::Impl::schedule_pow_rotation() {
  // PowState forgets expired challenges whenever it is asked; this tick only
  // makes that, and the metrics, happen without traffic too.
  pow_timer.expires_after(std::chrono::seconds(5));
  pow_timer.async_wait([this](boost::system::error_code ec) {
    if (ec || draining) return;
    pow.maintain(hub.waiting_count());
    schedule_pow_rotation();
  });
}

void Server::Impl::schedule_expiry() {
  expiry_timer.expires_after(std::chrono::seconds(kExpiryInterval));
  expiry_timer.async_wait([this](boost::system::error_code ec) {
    if (ec || draining) return;
    UnixSeconds window = config.limits.undelivered_retention_days * 86400;
    UnixSeconds now = clock.now();
    storage->write(
        [now, window](storage::Stores& s) { return s.envelopes.expire_undelivered(now, window); },
        [this](Result<std::int64_t> n) {
          if (!n.is_ok()) {
            logger().warn("expiry_failed", {{"status", n.status()}});
          } else if (*n > 0) {
            metrics.envelopes_expired.fetch_add(static_cast<std::uint64_t>(*n));
            logger().info("envelopes_expired", {{"count", *n}});
          }
        });
    // Parked cases past their window leave the waiting room first, so nobody
    // brings one back while its deletion commits; those the job keeps (taken
    // or written meanwhile) or all of them if it fails go back.
    const UnixSeconds parked_window = config.retention.parked_case_days * 86400;
    std::vector<UnixSeconds> away_since;  // kept ones go back with it
    std::vector<OpenCase> parked =
        hub.withdraw_parked(now - parked_window, kMaxParkedPerSweep, &away_since);
    storage->write(
        [now, window, parked, parked_window](storage::Stores& s) {
          return sweep_cases(s, parked, now, window, parked_window);
        },
        [this, parked, away_since](Result<SweepResult> swept) {
          if (!swept.is_ok()) {
            logger().warn("case_expiry_failed", {{"status", swept.status()}});
            for (std::size_t i = 0; i < parked.size(); ++i)
              hub.track_case(parked[i], std::nullopt, away_since[i]);
            hub.refresh();
            return;
          }
          for (const auto& id : swept->closed) hub.remove_case(id);
          for (std::size_t i = 0; i < parked.size(); ++i) {
            const OpenCase& c = parked[i];
            if (std::find(swept->parked.begin(), swept->parked.end(), c.id) ==
                swept->parked.end()) {
              hub.track_case(c, std::nullopt, away_since[i]);
              continue;
            }
            hub.remove_case(c.id);
            // A survivor who logged in just now hears it is gone.
            const storage::CaseId& id = c.id;
            hub.for_vault(c.record.vault_login_key, [&](Peer& p) {
              p.push_case_closed(id, protocol::CloseReason::kDeleted);
            });
          }
          if (!parked.empty()) hub.refresh();
          if (!swept->closed.empty())
            logger().info("closed_cases_expired", {{"count", swept->closed.size()}});
          if (!swept->parked.empty())
            logger().info("parked_cases_expired", {{"count", swept->parked.size()}});
          if (swept->vaults > 0)
            logger().info("caseless_vaults_deleted", {{"count", swept->vaults}});
        });
    schedule_expiry();
  });
}

Result<std::unique_ptr<Server>> Server::create(Config config) {
  auto impl = std::make_unique<Impl>(std::move(config));
  HEARTH_TRY(impl->start());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (!impl_) return;
  // Order matters: the storage thread finishes its queue while the (stopped)
  // io_context still exists, so completions it posts have somewhere to go.
  impl_->storage.reset();
}

std::uint16_t Server::public_port() const { return impl_->public_port; }
std::uint16_t Server::metrics_port() const { return impl_->metrics_port; }

int Server::run(const std::optional<std::filesystem::path>& ready_file) {
  Impl& s = *impl_;
  s.signals.add(SIGTERM);
  s.signals.add(SIGINT);
  s.signals.add(SIGHUP);
  s.wait_signal();
  asio::co_spawn(s.control, s.accept_public(), asio::detached);
  if (s.config.metrics_enabled) asio::co_spawn(s.control, s.accept_metrics(), asio::detached);
  s.schedule_pow_rotation();
  s.schedule_expiry();
  s.schedule_triage();
  logger().info("listening", {{"port", s.public_port}, {"tls", s.tls.has_value()}});
  if (s.config.metrics_enabled) logger().info("metrics_listening", {{"port", s.metrics_port}});

  if (ready_file) {
    std::string line = std::to_string(s.public_port) + " " + std::to_string(s.metrics_port) + "\n";
    Status st = write_private_file(*ready_file, as_bytes(line));
    if (!st.is_ok()) {
      logger().error("ready_file_failed", {{"status", st}});
      return 1;
    }
  }

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < s.config.io_threads; ++i) threads.emplace_back([&s] { s.io.run(); });
  s.io.run();
  for (auto& t : threads) t.join();
  // Every session is closed or abandoned; let the storage thread finish.
  s.storage.reset();
  logger().info("stopped");
  return s.exit_code;
}

}  // namespace hearth::server

#include "server/connection.h"

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "crypto/encoding.h"
#include "crypto/pow.h"
#include "crypto/prekeys.h"
#include "crypto/random.h"
#include "crypto/vault.h"
#include "protocol/codec.h"
#include "server/routing.h"

namespace hearth::server {

namespace asio = boost::asio;
using protocol::ErrorCode;
using protocol::ProtocolError;
using storage::CaseId;
using storage::MailboxId;
using storage::Stores;

namespace {

// Every op's name as log text (the logger takes compile-time text only).
constexpr std::array<log::LogText, kOpCount> kOpLogNames = {
    "pow_challenge",   "route",          "open_case", "challenge", "vault_login",
    "vault_get",       "vault_put",      "send",      "ack",       "delete_case",
    "responder_login", "upload_prekeys", "presence",  "claim"};

// The largest envelope event frame: a body of kMaxBodyBytes in base64 plus the
// frame around it. Backlog pages are sized so a page fits in half the queue.
// How long a closing connection may take to flush and finish the close
// handshake while the server shuts down.
constexpr std::chrono::seconds kShutdownGrace{2};

constexpr std::size_t kMaxEnvelopeFrameBytes = (protocol::kMaxBodyBytes + 2) / 3 * 4 + 512;

ProtocolError perr(ErrorCode code, std::string message) { return {code, std::move(message)}; }

template <typename T>
std::variant<protocol::Reply, ProtocolError> ok(T reply) {
  return std::variant<protocol::Reply, ProtocolError>(std::in_place_index<0>,
                                                      protocol::Reply(std::move(reply)));
}

Result<CaseId> case_id_of(const Bytes& b) {
  auto id = CaseId::from(b);
  if (!id.is_ok()) return error(Code::kInvalidArgument, "case: wrong length");
  return id;
}

// A verdict a storage job reaches about the request (not a storage failure):
// set on the storage thread, read on the strand after the job completed.
using Verdict = std::shared_ptr<std::optional<ProtocolError>>;
Verdict make_verdict() { return std::make_shared<std::optional<ProtocolError>>(); }

}  // namespace

// ---- AsyncSignal ----

AsyncSignal::AsyncSignal(const asio::any_io_executor& executor) : timer_(executor) {
  timer_.expires_at(asio::steady_timer::time_point::max());
}

asio::awaitable<void> AsyncSignal::wait() {
  if (done_) co_return;
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void AsyncSignal::notify() { timer_.cancel(); }

void AsyncSignal::cancel_forever() {
  done_ = true;
  timer_.cancel();
}

// ---- Connection: lifetime and the write queue ----

Connection::Connection(Services& services, asio::any_io_executor strand)
    : services_(services), strand_(std::move(strand)), writer_wake_(strand_), room_(strand_) {
  const Limits& l = services_.config.limits;
  std::size_t by_frames = l.write_queue_frames / 2 > 1 ? l.write_queue_frames / 2 - 1 : 1;
  std::size_t by_bytes =
      std::max<std::size_t>(1, (l.write_queue_bytes / 2) / kMaxEnvelopeFrameBytes);
  page_size_ = std::clamp<std::size_t>(std::min(by_frames, by_bytes), 1, storage::kMaxFetch);
}

Connection::~Connection() = default;

void Connection::finished() {
  closed_ = true;
  writer_wake_.cancel_forever();
  room_.cancel_forever();
  services_.hub.remove_peer(this);
}

bool Connection::enqueue(std::string frame) {
  if (close_code_ || closed_) return false;
  const Limits& l = services_.config.limits;
  // A client that does not read its replies and events must not make the
  // server hold an unbounded queue for it: past either limit it is closed.
  if (!out_.empty() &&
      (out_.size() >= l.write_queue_frames || out_bytes_ + frame.size() > l.write_queue_bytes)) {
    services_.metrics.slow_readers_dropped.fetch_add(1);
    log::logger().warn("slow_reader_dropped",
                       {{"queued_frames", out_.size()}, {"queued_bytes", out_bytes_}});
    begin_close(kClosePolicyViolation, /*flush=*/false);
    return false;
  }
  out_bytes_ += frame.size();
  out_.push_back(std::move(frame));
  writer_wake_.notify();
  return true;
}

void Connection::begin_close(std::uint16_t code, bool flush) {
  if (close_code_ || closed_) return;
  close_code_ = code;
  if (!flush && !out_.empty()) {
    // The frame at the front may be in the middle of being written: keep it.
    std::string front = std::move(out_.front());
    out_.clear();
    out_bytes_ = front.size();
    out_.push_back(std::move(front));
  }
  writer_wake_.notify();
  room_.cancel_forever();
  // A peer that does not answer the close (or does not read at all) is cut
  // off: after the handshake timeout, or sooner when the server is shutting
  // down (a drain must end within seconds, not wait on silent clients).
  auto timer = std::make_shared<asio::steady_timer>(strand_);
  timer->expires_after(code == kCloseGoingAway
                           ? std::min<std::chrono::steady_clock::duration>(
                                 services_.config.limits.handshake_timeout, kShutdownGrace)
                           : services_.config.limits.handshake_timeout);
  std::weak_ptr<Connection> weak = weak_from_this();
  timer->async_wait([timer, weak](boost::system::error_code) {
    if (auto self = weak.lock(); self && !self->closed_) self->abort_transport();
  });
}

asio::awaitable<void> Connection::wait_for_room() {
  const Limits& l = services_.config.limits;
  while (!close_code_ && !closed_ &&
         (out_.size() >= l.write_queue_frames / 2 || out_bytes_ >= l.write_queue_bytes / 2)) {
    co_await room_.wait();
  }
}

void Connection::frame_written(std::size_t bytes) {
  out_bytes_ -= std::min(bytes, out_bytes_);
  const Limits& l = services_.config.limits;
  if (out_.size() < l.write_queue_frames / 2 && out_bytes_ < l.write_queue_bytes / 2)
    room_.notify();
}

// ---- Peer ----

void Connection::push_delivery(std::shared_ptr<const Delivery> delivery) {
  asio::post(strand_, [self = shared_from_this(), delivery = std::move(delivery)] {
    self->on_delivery(*delivery);
  });
}

void Connection::push_case_claimed(const CaseId& case_id, Bytes claimed_by,
                                   std::string claimed_responder_id) {
  asio::post(strand_, [self = shared_from_this(), case_id, claimed_by = std::move(claimed_by),
                       rid = std::move(claimed_responder_id)] {
    if (self->role_ == Role::kResponder && self->responder_id_ != rid) {
      // Another responder took it: this one's copy is gone, stop watching.
      self->unwatch_case(case_id);
    }
    self->send_event(
        protocol::CaseClaimedEvent{Bytes(case_id.bytes.begin(), case_id.bytes.end()), claimed_by});
  });
}

void Connection::push_case_closed(const CaseId& case_id) {
  asio::post(strand_, [self = shared_from_this(), case_id] {
    self->unwatch_case(case_id);
    if (self->role_ == Role::kResponder) {
      self->send_event(
          protocol::CaseClosedEvent{Bytes(case_id.bytes.begin(), case_id.bytes.end())});
    }
  });
}

void Connection::roster_changed(std::shared_ptr<const RosterState> roster) {
  asio::post(strand_, [self = shared_from_this(), roster = std::move(roster)] {
    self->check_roster(*roster);
  });
}

void Connection::shut_down() {
  asio::post(strand_, [self = shared_from_this()] {
    self->draining_ = true;
    // A request in hand finishes first; the reader closes after its reply.
    if (!self->handling_) self->begin_close(kCloseGoingAway, /*flush=*/true);
  });
}

void Connection::check_roster(const RosterState& roster) {
  if (role_ != Role::kResponder || !certificate_) return;
  const auto& v = roster.verified;
  bool ok = !v.is_revoked(certificate_hash_) && !v.queues_of(certificate_hash_).empty() &&
            v.check_certificate(*certificate_, services_.clock.now()).is_ok();
  if (ok) return;
  log::logger().info("responder_disconnected", {{"reason", "roster"}});
  begin_close(kClosePolicyViolation, /*flush=*/false);
}

// ---- Delivery ----

void Connection::send_event(protocol::Event event) {
  if (enqueue(protocol::encode(protocol::EventFrame{std::move(event)})))
    services_.metrics.events_pushed.fetch_add(1);
}

void Connection::send_envelope(const CaseId& case_id, std::int64_t seq, bool responder_side,
                               const Bytes& body, UnixSeconds sent_minute) {
  protocol::EnvelopeEvent e;
  e.case_id.assign(case_id.bytes.begin(), case_id.bytes.end());
  e.seq = seq;
  // Every mailbox a responder has for a case starts with the intake copy; seq
  // numbers are never reused, so seq 1 there is always it.
  e.kind = responder_side && seq == 1 ? protocol::EnvelopeKind::kIntake
                                      : protocol::EnvelopeKind::kMessage;
  e.body = body;
  e.sent_minute = sent_minute;
  send_event(std::move(e));
}

void Connection::watch(const MailboxId& mailbox, const CaseId& case_id, bool responder_side,
                       bool fetch_backlog) {
  auto [it, inserted] = cursors_.try_emplace(mailbox);
  if (inserted) {
    it->second.case_id = case_id;
    it->second.responder_side = responder_side;
  }
  if (fetch_backlog) start_fetch(mailbox);
}

void Connection::unwatch_case(const CaseId& case_id) {
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    it = it->second.case_id == case_id ? cursors_.erase(it) : std::next(it);
  }
}

void Connection::on_delivery(const Delivery& d) {
  if (close_code_ || closed_) return;
  // Only a party's own mailboxes reach it (the hub routes by party), but a
  // delivery can race a logout-free role check: accept only the right side.
  if ((role_ == Role::kResponder) != d.responder_side) return;
  if (role_ == Role::kAnonymous) return;
  watch(d.mailbox, d.case_id, d.responder_side, /*fetch_backlog=*/false);
  Cursor& c = cursors_.at(d.mailbox);
  if (c.fetching) {
    c.dirty = true;  // the page being fetched may or may not hold it: fetch again
    return;
  }
  if (d.seq <= c.delivered) return;  // already pushed from the backlog
  if (d.seq == c.delivered + 1) {
    c.delivered = d.seq;
    send_envelope(d.case_id, d.seq, d.responder_side, d.body, d.sent_minute);
    return;
  }
  start_fetch(d.mailbox);  // a gap: read what is missing, in order
}

void Connection::start_fetch(const MailboxId& mailbox) {
  auto it = cursors_.find(mailbox);
  if (it == cursors_.end()) return;
  if (it->second.fetching) {
    it->second.dirty = true;
    return;
  }
  it->second.fetching = true;
  asio::co_spawn(strand_, fetch_loop(mailbox), asio::detached);
}

asio::awaitable<void> Connection::fetch_loop(MailboxId mailbox) {
  auto self = shared_from_this();
  for (;;) {
    co_await wait_for_room();
    auto it = cursors_.find(mailbox);
    if (it == cursors_.end() || close_code_ || closed_) break;
    it->second.dirty = false;
    std::int64_t after = it->second.delivered;
    std::size_t limit = page_size_;
    auto fetch = [mailbox, after, limit](Stores& s) {
      return s.envelopes.fetch(mailbox, after, limit);
    };
    auto page = co_await read_job(fetch);
    it = cursors_.find(mailbox);
    if (it == cursors_.end() || close_code_ || closed_) break;
    if (!page.is_ok()) {
      log::logger().warn("backlog_fetch_failed", {{"status", page.status()}});
      it->second.fetching = false;
      co_return;
    }
    Cursor& c = it->second;
    for (const auto& env : *page) {
      if (env.seq <= c.delivered) continue;
      c.delivered = env.seq;
      send_envelope(c.case_id, env.seq, c.responder_side, env.ciphertext, env.created_minute);
    }
    if (page->size() < limit && !c.dirty) break;
  }
  if (auto it = cursors_.find(mailbox); it != cursors_.end()) it->second.fetching = false;
}

// ---- Requests ----

asio::awaitable<std::string> Connection::handle_text(const std::string& text) {
  auto decoded = protocol::decode_request(text);
  if (auto* bad = std::get_if<protocol::RequestError>(&decoded)) {
    services_.metrics.count_error(bad->error.code);
    co_return protocol::encode(protocol::ReplyFrame{bad->id, bad->error});
  }
  auto& frame = std::get<protocol::RequestFrame>(decoded);
  protocol::Op op = protocol::op_of(frame.request);
  services_.metrics.count_request(op);
  Outcome outcome = perr(ErrorCode::kInternal, "internal error");
  try {
    outcome = co_await dispatch(frame.request);
  } catch (const std::exception&) {
    // A bug or an allocation failure: the connection stays usable.
    log::logger().error("handler_exception", {{"op", kOpLogNames[static_cast<std::size_t>(op)]}});
    after_reply_.clear();
  }
  if (auto* e = std::get_if<ProtocolError>(&outcome)) services_.metrics.count_error(e->code);
  co_return protocol::encode(protocol::ReplyFrame{frame.id, std::move(outcome)});
}

void Connection::run_after_reply() {
  auto actions = std::move(after_reply_);
  after_reply_.clear();
  for (auto& action : actions) action();
}

asio::awaitable<Connection::Outcome> Connection::dispatch(const protocol::Request& request) {
  switch (protocol::op_of(request)) {
    case protocol::Op::kPowChallenge:
      co_return co_await on_pow_challenge(std::get<protocol::PowChallengeRequest>(request));
    case protocol::Op::kRoute:
      co_return co_await on_route(std::get<protocol::RouteRequest>(request));
    case protocol::Op::kOpenCase:
      co_return co_await on_open_case(std::get<protocol::OpenCaseRequest>(request));
    case protocol::Op::kChallenge:
      co_return co_await on_challenge(std::get<protocol::ChallengeRequest>(request));
    case protocol::Op::kVaultLogin:
      co_return co_await on_vault_login(std::get<protocol::VaultLoginRequest>(request));
    case protocol::Op::kVaultGet:
      co_return co_await on_vault_get(std::get<protocol::VaultGetRequest>(request));
    case protocol::Op::kVaultPut:
      co_return co_await on_vault_put(std::get<protocol::VaultPutRequest>(request));
    case protocol::Op::kSend:
      co_return co_await on_send(std::get<protocol::SendRequest>(request));
    case protocol::Op::kAck:
      co_return co_await on_ack(std::get<protocol::AckRequest>(request));
    case protocol::Op::kDeleteCase:
      co_return co_await on_delete_case(std::get<protocol::DeleteCaseRequest>(request));
    case protocol::Op::kResponderLogin:
      co_return co_await on_responder_login(std::get<protocol::ResponderLoginRequest>(request));
    case protocol::Op::kUploadPrekeys:
      co_return co_await on_upload_prekeys(std::get<protocol::UploadPrekeysRequest>(request));
    case protocol::Op::kPresence:
      co_return co_await on_presence(std::get<protocol::PresenceRequest>(request));
    case protocol::Op::kClaim:
      co_return co_await on_claim(std::get<protocol::ClaimRequest>(request));
  }
  co_return perr(ErrorCode::kUnknownOp, "unknown op");
}

std::optional<ProtocolError> Connection::require_survivor() const {
  if (role_ == Role::kAnonymous)
    return perr(ErrorCode::kNotAuthenticated, "log into a vault first");
  if (role_ != Role::kSurvivor) return perr(ErrorCode::kForbidden, "survivors only");
  return std::nullopt;
}

std::optional<ProtocolError> Connection::require_responder() const {
  if (role_ == Role::kAnonymous)
    return perr(ErrorCode::kNotAuthenticated, "log in as a responder first");
  if (role_ != Role::kResponder) return perr(ErrorCode::kForbidden, "responders only");
  return std::nullopt;
}

std::optional<ProtocolError> Connection::require_anonymous() const {
  if (role_ != Role::kAnonymous)
    return perr(ErrorCode::kForbidden, "this connection is already logged in");
  return std::nullopt;
}

std::optional<ProtocolError> Connection::require_not_responder() const {
  if (role_ == Role::kResponder) return perr(ErrorCode::kForbidden, "not for responders");
  return std::nullopt;
}

ProtocolError Connection::storage_failure(const Status& status) {
  switch (status.code()) {
    case Code::kLimitExceeded:  // the storage queue is full
    case Code::kUnavailable:    // disk full, I/O error, shutting down
      log::logger().warn("storage_unavailable", {{"status", status}});
      return perr(ErrorCode::kUnavailable, "the server cannot store this now; try again later");
    default:
      log::logger().error("storage_error", {{"status", status}});
      return perr(ErrorCode::kInternal, "internal error");
  }
}

void Connection::expire_routes() {
  UnixSeconds now = services_.clock.now();
  std::erase_if(routes_, [now](const PendingRoute& r) { return r.expires <= now; });
}

// pow_challenge: anyone.
asio::awaitable<Connection::Outcome> Connection::on_pow_challenge(
    const protocol::PowChallengeRequest&) {
  crypto::PowChallenge c = services_.pow.challenge();
  co_return ok(protocol::PowChallengeReply{std::move(c.seed), c.effort});
}

// route: anonymous or survivor.
asio::awaitable<Connection::Outcome> Connection::on_route(const protocol::RouteRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  expire_routes();
  if (routes_.size() >= services_.config.limits.max_routes_per_connection)
    co_return perr(ErrorCode::kLimitExceeded, "too many unused routes on this connection");

  Bytes request_hash =
      crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(req.envelope)));
  Status pow = services_.pow.check(req.pow.seed, req.pow.nonce, "route", request_hash);
  if (!pow.is_ok()) {
    switch (pow.code()) {
      case Code::kAuthFailed:
        co_return perr(ErrorCode::kPowInsufficient, "the proof of work does not meet the effort");
      case Code::kReplay:
        co_return perr(ErrorCode::kPowReplayed, "this proof of work was already spent");
      case Code::kExpired:
        co_return perr(ErrorCode::kPowStale, "the seed is no longer accepted; ask for a new one");
      case Code::kLimitExceeded:
        co_return perr(ErrorCode::kRateLimited, "too many requests; try again later");
      default:
        co_return perr(ErrorCode::kBadField, "pow: malformed");
    }
  }

  auto roster = services_.hub.roster();
  UnixSeconds now = services_.clock.now();
  RoutingDecision decision = route_request(req.envelope, roster->verified, now);
  struct Candidate {
    std::string responder_id;
    Bytes hash;
    Bytes certificate;
  };
  std::vector<Candidate> candidates;
  for (const auto& hash : decision.candidates) {
    if (candidates.size() >= protocol::kMaxBundles) break;
    auto known = services_.hub.certificate(hash);
    if (!known) continue;  // never logged in: no prekeys either
    if (!roster->verified.check_certificate(known->certificate, now, decision.queue).is_ok())
      continue;
    candidates.push_back({known->certificate.fields.responder_id, hash, known->encoded});
  }
  if (candidates.empty())
    co_return perr(ErrorCode::kNoResponder, "nobody can take this request's queue now");

  struct Offered {
    CaseParty party;
    protocol::Bundle bundle;
  };
  auto claim_prekeys = [candidates, now](Stores& s) -> Result<std::vector<Offered>> {
    std::vector<Offered> out;
    for (const auto& c : candidates) {
      auto spk = s.prekeys.current_signed_prekey(as_bytes(c.responder_id));
      if (!spk.is_ok()) {
        if (spk.status().code() == Code::kNotFound) continue;
        return spk.status();
      }
      auto parsed = crypto::SignedPrekey::decode(spk->record);
      if (!parsed.is_ok() || parsed->expires_at <= now) continue;
      auto opk = s.prekeys.claim_one_time_prekey(as_bytes(c.responder_id));
      if (!opk.is_ok()) return opk.status();
      protocol::Bundle b{c.certificate, spk->record, std::nullopt};
      if (opk->has_value()) b.one_time_prekey = (*opk)->record;
      out.push_back({CaseParty{c.hash, c.responder_id}, std::move(b)});
    }
    return out;
  };
  auto offered = co_await write_job(claim_prekeys);
  if (!offered.is_ok()) co_return storage_failure(offered.status());
  if (offered->empty())
    co_return perr(ErrorCode::kNoResponder, "nobody can take this request's queue now");

  PendingRoute route;
  route.id = storage::random_id<CaseId>();
  route.queue = decision.queue;
  route.expires = now + services_.config.limits.route_ttl.count();
  protocol::RouteReply reply;
  reply.case_id.assign(route.id.bytes.begin(), route.id.bytes.end());
  reply.queue = decision.queue;
  reply.roster = roster->encoded;
  for (auto& o : *offered) {
    route.offers.push_back(o.party);
    reply.bundles.push_back(std::move(o.bundle));
  }
  routes_.push_back(std::move(route));
  co_return ok(std::move(reply));
}

// open_case: anonymous (with a new vault) or survivor (without).
asio::awaitable<Connection::Outcome> Connection::on_open_case(
    const protocol::OpenCaseRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  expire_routes();
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto route_it = std::find_if(routes_.begin(), routes_.end(),
                               [&](const PendingRoute& r) { return r.id == *id; });
  if (route_it == routes_.end())
    co_return perr(ErrorCode::kNotFound, "no such route on this connection, or it expired");
  if (role_ == Role::kAnonymous && !req.vault)
    co_return perr(ErrorCode::kBadField, "vault: required to open a case without a vault login");
  if (role_ == Role::kSurvivor && req.vault)
    co_return perr(ErrorCode::kBadField, "vault: not allowed once logged into a vault");

  struct Copy {
    CaseParty party;
    Bytes body;
  };
  std::vector<Copy> copies;
  std::set<Bytes> seen;
  for (const auto& copy : req.intake) {
    auto offer = std::find_if(
        route_it->offers.begin(), route_it->offers.end(),
        [&](const CaseParty& p) { return p.certificate_hash == copy.certificate_hash; });
    if (offer == route_it->offers.end())
      co_return perr(ErrorCode::kBadField,
                     "intake: a copy for a certificate the route did not offer");
    if (!seen.insert(copy.certificate_hash).second)
      co_return perr(ErrorCode::kBadField, "intake: two copies for one certificate");
    copies.push_back({*offer, copy.body});
  }
  if (copies.empty()) co_return perr(ErrorCode::kMissingField, "intake: at least one copy");

  const bool new_vault = req.vault.has_value();
  Bytes login_id = new_vault ? req.vault->login_id : login_id_;
  Bytes login_key = new_vault ? req.vault->login_key : login_key_;
  if (!services_.hub.reserve_case_slot(login_key, services_.config.limits.max_open_cases_per_vault))
    co_return perr(ErrorCode::kLimitExceeded, "this vault has as many open cases as allowed");

  CaseRecord record;
  record.queue = route_it->queue;
  record.vault_login_key = login_key;
  for (const auto& c : copies) record.offers.push_back(c.party);
  Bytes fields = encode_case_record(record);
  UnixSeconds now = services_.clock.now();
  std::size_t bytes = new_vault ? req.vault->blob.size() : 0;
  for (const auto& c : copies) bytes += c.body.size();

  struct Opened {
    std::int64_t vault_version = 0;
    std::vector<std::int64_t> seqs;
  };
  Verdict verdict = make_verdict();
  auto job = [id = *id, fields, vault = req.vault, login_id, copies, now,
              verdict](Stores& s) -> Result<Opened> {
    Opened out;
    if (vault) {
      Status st = s.vaults.create(vault->login_id, vault->login_key, vault->blob);
      if (st.code() == Code::kAlreadyExists) {
        *verdict = perr(ErrorCode::kConflict, "vault: this login id is taken");
      } else if (st.code() == Code::kInvalidArgument || st.code() == Code::kLimitExceeded) {
        *verdict = perr(ErrorCode::kBadField, "vault: login id or blob out of range");
      }
      HEARTH_TRY(st);
      out.vault_version = 1;
    } else {
      auto v = s.vaults.get(login_id);
      if (v.status().code() == Code::kNotFound)
        *verdict = perr(ErrorCode::kNotFound, "vault: it was deleted");
      if (!v.is_ok()) return v.status();
      out.vault_version = v->version;
    }
    HEARTH_TRY(s.cases.create(id, fields, now));
    for (const auto& c : copies) {
      HEARTH_ASSIGN_OR_RETURN(
          std::int64_t seq,
          s.envelopes.put(responder_mailbox(id, c.party.responder_id), c.body, now));
      out.seqs.push_back(seq);
    }
    return out;
  };
  auto opened = co_await write_job(job, bytes);
  if (!opened.is_ok()) {
    services_.hub.release_case_slot(login_key);
    co_return verdict->has_value() ? **verdict : storage_failure(opened.status());
  }
  UnixSeconds minute = to_minute(now);
  services_.hub.add_case(OpenCase{*id, 1, minute, record});
  services_.hub.release_case_slot(login_key);
  routes_.erase(std::find_if(routes_.begin(), routes_.end(),
                             [&](const PendingRoute& r) { return r.id == *id; }));
  services_.metrics.messages_relayed.fetch_add(copies.size());
  if (new_vault) {
    role_ = Role::kSurvivor;
    login_id_ = login_id;
    login_key_ = login_key;
  }
  watch(survivor_mailbox(*id), *id, /*responder_side=*/false, /*fetch_backlog=*/false);
  after_reply_.push_back([this, new_vault, id = *id, copies, seqs = opened->seqs, minute] {
    if (new_vault) services_.hub.register_survivor(login_key_, shared_from_this());
    for (std::size_t i = 0; i < copies.size(); ++i) {
      auto d =
          std::make_shared<Delivery>(Delivery{responder_mailbox(id, copies[i].party.responder_id),
                                              id, seqs[i], true, copies[i].body, minute});
      services_.hub.deliver_to_responder(copies[i].party.responder_id, d);
    }
  });
  co_return ok(protocol::OpenCaseReply{opened->vault_version});
}

// challenge: anyone; replaces the previous one.
asio::awaitable<Connection::Outcome> Connection::on_challenge(const protocol::ChallengeRequest&) {
  challenge_ = crypto::random_bytes(protocol::kChallengeBytes);
  co_return ok(protocol::ChallengeReply{*challenge_});
}

// vault_login: anonymous.
asio::awaitable<Connection::Outcome> Connection::on_vault_login(
    const protocol::VaultLoginRequest& req) {
  if (auto e = require_anonymous()) co_return *e;
  if (!challenge_) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
  // Single use: a failed attempt spends it too, so each guess costs a round trip.
  Bytes challenge = std::move(*challenge_);
  challenge_.reset();
  auto get = [login_id = req.login_id](Stores& s) { return s.vaults.get(login_id); };
  auto vault = co_await read_job(get);
  // No such vault and a bad signature answer alike: the reply must not say
  // whether a login id exists.
  const ProtocolError failed = perr(ErrorCode::kAuthFailed, "vault login failed");
  if (!vault.is_ok()) {
    if (vault.status().code() == Code::kNotFound || vault.status().code() == Code::kInvalidArgument)
      co_return failed;
    co_return storage_failure(vault.status());
  }
  auto key = crypto::SigningPublicKey::from(vault->login_public_key);
  auto sig = crypto::Signature::from(req.signature);
  if (!key.is_ok() || !sig.is_ok() ||
      !crypto::verify_login_challenge(*key, challenge, *sig).is_ok())
    co_return failed;

  role_ = Role::kSurvivor;
  login_id_ = req.login_id;
  login_key_ = vault->login_public_key;
  protocol::VaultLoginReply reply;
  reply.version = vault->version;
  reply.blob = std::move(vault->blob);
  for (const auto& c : services_.hub.cases_of_vault(login_key_)) {
    protocol::CaseSummary summary;
    summary.case_id.assign(c.id.bytes.begin(), c.id.bytes.end());
    summary.queue = c.record.queue;
    if (c.record.claimed_by) summary.claimed_by = c.record.claimed_by->certificate_hash;
    reply.cases.push_back(std::move(summary));
  }
  after_reply_.push_back([this] {
    // Register first, then fetch: anything committed before registering is in
    // the backlog; anything after is pushed live (the cursor merges the two).
    services_.hub.register_survivor(login_key_, shared_from_this());
    for (const auto& c : services_.hub.cases_of_vault(login_key_))
      watch(survivor_mailbox(c.id), c.id, /*responder_side=*/false, /*fetch_backlog=*/true);
  });
  co_return ok(std::move(reply));
}

// vault_get: survivor.
asio::awaitable<Connection::Outcome> Connection::on_vault_get(const protocol::VaultGetRequest&) {
  if (auto e = require_survivor()) co_return *e;
  auto get = [login_id = login_id_](Stores& s) { return s.vaults.get(login_id); };
  auto vault = co_await read_job(get);
  if (!vault.is_ok()) {
    if (vault.status().code() == Code::kNotFound)
      co_return perr(ErrorCode::kNotFound, "vault: it was deleted");
    co_return storage_failure(vault.status());
  }
  co_return ok(protocol::VaultGetReply{vault->version, std::move(vault->blob)});
}

// vault_put: survivor.
asio::awaitable<Connection::Outcome> Connection::on_vault_put(
    const protocol::VaultPutRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  Verdict verdict = make_verdict();
  std::size_t bytes = req.put.blob.size();
  auto put_job = [login_id = login_id_, put = req.put, verdict](Stores& s) -> Result<std::int64_t> {
    auto v = s.vaults.put(login_id, put.version, put.blob);
    if (!v.is_ok()) {
      switch (v.status().code()) {
        case Code::kConflict:
          *verdict = perr(ErrorCode::kConflict, "vault: the version moved on; get and merge");
          break;
        case Code::kNotFound:
          *verdict = perr(ErrorCode::kNotFound, "vault: it was deleted");
          break;
        case Code::kLimitExceeded:
          *verdict = perr(ErrorCode::kBadField, "blob: too large");
          break;
        default:
          break;
      }
    }
    return v;
  };
  auto version = co_await write_job(put_job, bytes);
  if (!version.is_ok())
    co_return verdict->has_value() ? **verdict : storage_failure(version.status());
  co_return ok(protocol::VaultPutReply{*version});
}

// send: survivor (to the responder who claimed the case) or responder (to the
// survivor of a case they claimed).
asio::awaitable<Connection::Outcome> Connection::on_send(const protocol::SendRequest& req) {
  if (role_ == Role::kAnonymous) co_return perr(ErrorCode::kNotAuthenticated, "log in first");
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c) co_return perr(ErrorCode::kNotFound, "no such case");

  MailboxId target;
  std::string to_responder;  // set when the recipient is a responder
  if (role_ == Role::kSurvivor) {
    if (c->record.vault_login_key != login_key_)
      co_return perr(ErrorCode::kForbidden, "not a case of this vault");
    if (!c->record.claimed_by)
      co_return perr(ErrorCode::kNotClaimed, "no responder has taken this case yet");
    to_responder = c->record.claimed_by->responder_id;
    target = responder_mailbox(*id, to_responder);
  } else {
    if (req.vault) co_return perr(ErrorCode::kForbidden, "vault: survivors only");
    if (!c->record.claimed_by || c->record.claimed_by->responder_id != responder_id_)
      co_return perr(ErrorCode::kForbidden, "not a case you have taken");
    target = survivor_mailbox(*id);
  }

  struct Sent {
    std::int64_t seq = 0;
    std::optional<std::int64_t> vault_version;
  };
  Verdict verdict = make_verdict();
  UnixSeconds now = services_.clock.now();
  std::size_t bytes = req.body.size() + (req.vault ? req.vault->blob.size() : 0);
  std::int64_t max_pending = services_.config.limits.max_pending_per_mailbox;
  auto job = [id = *id, target, body = req.body, vault = req.vault, login_id = login_id_, now,
              max_pending, verdict](Stores& s) -> Result<Sent> {
    // The case may have been deleted since the check above: nothing may be
    // stored for a mailbox that delete_case already dropped.
    auto row = s.cases.get(id);
    if (row.status().code() == Code::kNotFound)
      *verdict = perr(ErrorCode::kNotFound, "no such case");
    if (!row.is_ok()) return row.status();
    HEARTH_ASSIGN_OR_RETURN(std::int64_t pending, s.envelopes.pending(target));
    if (pending >= max_pending) {
      *verdict = perr(ErrorCode::kLimitExceeded, "the recipient's mailbox is full");
      return error(Code::kLimitExceeded, "mailbox full");
    }
    Sent out;
    HEARTH_ASSIGN_OR_RETURN(out.seq, s.envelopes.put(target, body, now));
    if (vault) {
      // In the same job: the message and the vault that records it commit
      // together or not at all.
      auto v = s.vaults.put(login_id, vault->version, vault->blob);
      if (v.status().code() == Code::kConflict)
        *verdict = perr(ErrorCode::kConflict, "vault: the version moved on; get and merge");
      else if (v.status().code() == Code::kNotFound)
        *verdict = perr(ErrorCode::kNotFound, "vault: it was deleted");
      else if (v.status().code() == Code::kLimitExceeded)
        *verdict = perr(ErrorCode::kBadField, "vault.blob: too large");
      if (!v.is_ok()) return v.status();
      out.vault_version = *v;
    }
    return out;
  };
  auto sent = co_await write_job(job, bytes);
  if (!sent.is_ok()) co_return verdict->has_value() ? **verdict : storage_failure(sent.status());
  services_.metrics.messages_relayed.fetch_add(1);

  // Committed: only now is it pushed to the recipient.
  auto d = std::make_shared<Delivery>(
      Delivery{target, *id, sent->seq, !to_responder.empty(), req.body, to_minute(now)});
  if (!to_responder.empty()) {
    services_.hub.deliver_to_responder(to_responder, d);
  } else {
    services_.hub.deliver_to_vault(c->record.vault_login_key, d);
  }
  co_return ok(protocol::SendReply{sent->seq, sent->vault_version});
}

// ack: survivor or responder, for their own mailbox of the case.
asio::awaitable<Connection::Outcome> Connection::on_ack(const protocol::AckRequest& req) {
  if (role_ == Role::kAnonymous) co_return perr(ErrorCode::kNotAuthenticated, "log in first");
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c) co_return perr(ErrorCode::kNotFound, "no such case");
  MailboxId mailbox;
  if (role_ == Role::kSurvivor) {
    if (c->record.vault_login_key != login_key_)
      co_return perr(ErrorCode::kForbidden, "not a case of this vault");
    mailbox = survivor_mailbox(*id);
  } else {
    if (c->record.offer_for(responder_id_) == nullptr)
      co_return perr(ErrorCode::kForbidden, "not a case offered to you");
    mailbox = responder_mailbox(*id, responder_id_);
  }
  auto ack = [mailbox, seq = req.seq](Stores& s) { return s.envelopes.ack(mailbox, seq); };
  auto acked = co_await write_job(ack);
  if (!acked.is_ok()) co_return storage_failure(acked.status());
  co_return ok(protocol::AckReply{});
}

// delete_case: survivor, for a case of their vault.
asio::awaitable<Connection::Outcome> Connection::on_delete_case(
    const protocol::DeleteCaseRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c) co_return perr(ErrorCode::kNotFound, "no such case");
  if (c->record.vault_login_key != login_key_)
    co_return perr(ErrorCode::kForbidden, "not a case of this vault");
  const bool last = services_.hub.cases_of_vault(login_key_).size() <= 1;
  std::vector<MailboxId> mailboxes{survivor_mailbox(*id)};
  for (const auto& offer : c->record.offers)
    mailboxes.push_back(responder_mailbox(*id, offer.responder_id));
  auto remove = [id = *id, mailboxes, last, login_id = login_id_](Stores& s) -> Status {
    HEARTH_TRY(s.cases.remove(id));
    for (const auto& m : mailboxes) HEARTH_TRY(s.envelopes.drop_mailbox(m));
    if (last) HEARTH_TRY(s.vaults.remove(login_id));
    return Status::ok();
  };
  Status done = co_await write_job(remove);
  if (!done.is_ok()) co_return storage_failure(done);
  auto removed = services_.hub.remove_case(*id);
  unwatch_case(*id);
  if (removed) {
    after_reply_.push_back([this, id = *id, offers = removed->record.offers] {
      for (const auto& offer : offers) {
        services_.hub.for_responder(offer.responder_id, [&](Peer& p) { p.push_case_closed(id); });
      }
      services_.hub.for_vault(login_key_, [&](Peer& p) {
        if (&p != this) p.push_case_closed(id);
      });
    });
  }
  co_return ok(protocol::DeleteCaseReply{});
}

// responder_login: anonymous.
asio::awaitable<Connection::Outcome> Connection::on_responder_login(
    const protocol::ResponderLoginRequest& req) {
  if (auto e = require_anonymous()) co_return *e;
  if (!challenge_) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
  Bytes challenge = std::move(*challenge_);
  challenge_.reset();
  auto cert = crypto::ResponderCertificate::decode(req.certificate);
  if (!cert.is_ok())
    co_return perr(ErrorCode::kBadField, "certificate: not a responder certificate");
  Bytes hash = cert->hash();
  auto roster = services_.hub.roster();
  const auto& v = roster->verified;
  UnixSeconds now = services_.clock.now();
  // Revocation first: a revoked certificate may still be listed on a queue.
  if (v.is_revoked(hash)) co_return perr(ErrorCode::kRevoked, "this certificate is revoked");
  if (v.queues_of(hash).empty())
    co_return perr(ErrorCode::kNotOnRoster, "this certificate is not on the current roster");
  Status checked = v.check_certificate(*cert, now);
  if (!checked.is_ok()) {
    switch (checked.code()) {
      case Code::kExpired:
        co_return perr(ErrorCode::kCertificateExpired, "the certificate is outside its validity");
      case Code::kNotFound:
        co_return perr(ErrorCode::kNotOnRoster, "this certificate is not on the current roster");
      default:
        co_return perr(ErrorCode::kAuthFailed, "the certificate does not verify");
    }
  }
  auto sig = crypto::Signature::from(req.signature);
  if (!sig.is_ok() || !crypto::verify_responder_login(*cert, challenge, *sig).is_ok())
    co_return perr(ErrorCode::kAuthFailed, "the login signature does not verify");

  std::string rid = cert->fields.responder_id;
  struct Held {
    std::int64_t one_time_prekeys = 0;
    bool has_signed_prekey = false;
  };
  auto store_cert = [rid, encoded = req.certificate](Stores& s) -> Result<Held> {
    HEARTH_TRY(s.roster.put_certificate(as_bytes(rid), encoded));
    Held out;
    HEARTH_ASSIGN_OR_RETURN(out.one_time_prekeys, s.prekeys.one_time_prekey_count(as_bytes(rid)));
    auto spk = s.prekeys.current_signed_prekey(as_bytes(rid));
    if (!spk.is_ok() && spk.status().code() != Code::kNotFound) return spk.status();
    out.has_signed_prekey = spk.is_ok();
    return out;
  };
  auto held = co_await write_job(store_cert);
  if (!held.is_ok()) co_return storage_failure(held.status());

  role_ = Role::kResponder;
  responder_id_ = rid;
  certificate_hash_ = hash;
  certificate_ = *cert;
  services_.hub.remember_certificate(KnownCertificate{*cert, req.certificate, hash});
  protocol::ResponderLoginReply reply;
  reply.responder_id = rid;
  reply.queues = v.queues_of(hash);
  reply.roster = roster->encoded;
  reply.one_time_prekeys = held->one_time_prekeys;
  reply.has_signed_prekey = held->has_signed_prekey;
  after_reply_.push_back([this] {
    services_.hub.register_responder(responder_id_, shared_from_this());
    for (const auto& c : services_.hub.cases_of_responder(responder_id_))
      watch(responder_mailbox(c.id, responder_id_), c.id, /*responder_side=*/true,
            /*fetch_backlog=*/true);
  });
  co_return ok(std::move(reply));
}

// upload_prekeys: responder; every prekey signed by the certificate's key.
asio::awaitable<Connection::Outcome> Connection::on_upload_prekeys(
    const protocol::UploadPrekeysRequest& req) {
  if (auto e = require_responder()) co_return *e;
  const auto& signing_key = certificate_->fields.signing_key;
  UnixSeconds now = services_.clock.now();
  std::optional<storage::PrekeyRecord> spk;
  if (req.signed_prekey) {
    auto parsed = crypto::SignedPrekey::decode(*req.signed_prekey);
    if (!parsed.is_ok()) co_return perr(ErrorCode::kBadField, "signed_prekey: not a signed prekey");
    if (!crypto::verify_signature(signing_key, parsed->signed_part(), parsed->signature).is_ok())
      co_return perr(ErrorCode::kAuthFailed, "signed_prekey: the signature does not verify");
    if (parsed->expires_at <= now) co_return perr(ErrorCode::kBadField, "signed_prekey: expired");
    spk = storage::PrekeyRecord{parsed->id, *req.signed_prekey};
  }
  std::vector<storage::PrekeyRecord> opks;
  for (const auto& bytes : req.one_time_prekeys) {
    auto parsed = crypto::OneTimePrekey::decode(bytes);
    if (!parsed.is_ok())
      co_return perr(ErrorCode::kBadField, "one_time_prekeys: not a one-time prekey");
    if (!crypto::verify_signature(signing_key, parsed->signed_part(), parsed->signature).is_ok())
      co_return perr(ErrorCode::kAuthFailed, "one_time_prekeys: a signature does not verify");
    opks.push_back({parsed->id, bytes});
  }
  Verdict verdict = make_verdict();
  auto store = [rid = responder_id_, spk, opks, now, verdict](Stores& s) -> Result<std::int64_t> {
    if (spk) HEARTH_TRY(s.prekeys.put_signed_prekey(as_bytes(rid), *spk, now));
    if (!opks.empty()) {
      Status st = s.prekeys.add_one_time_prekeys(as_bytes(rid), opks);
      if (st.code() == Code::kAlreadyExists)
        *verdict = perr(ErrorCode::kConflict, "one_time_prekeys: an id is already stored");
      else if (st.code() == Code::kLimitExceeded)
        *verdict = perr(ErrorCode::kLimitExceeded, "one_time_prekeys: over the server's limit");
      HEARTH_TRY(st);
    }
    return s.prekeys.one_time_prekey_count(as_bytes(rid));
  };
  auto count = co_await write_job(store);
  if (!count.is_ok()) co_return verdict->has_value() ? **verdict : storage_failure(count.status());
  co_return ok(protocol::UploadPrekeysReply{*count});
}

// presence: responder; kept in memory (issue 5 uses it for routing).
asio::awaitable<Connection::Outcome> Connection::on_presence(const protocol::PresenceRequest& req) {
  if (auto e = require_responder()) co_return *e;
  if (req.capacity < 1 || req.capacity > 50)
    co_return perr(ErrorCode::kBadField, "capacity: must be between 1 and 50");
  services_.hub.set_presence(responder_id_, PresenceState{req.status, req.capacity});
  co_return ok(protocol::PresenceReply{});
}

// claim: responder, for a case an intake copy was made for them.
asio::awaitable<Connection::Outcome> Connection::on_claim(const protocol::ClaimRequest& req) {
  if (auto e = require_responder()) co_return *e;
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c) co_return perr(ErrorCode::kNotFound, "no such case");
  const CaseParty* offer = c->record.offer_for(responder_id_);
  if (offer == nullptr) co_return perr(ErrorCode::kForbidden, "no copy was made for you");
  if (c->record.claimed_by) {
    if (c->record.claimed_by->responder_id == responder_id_)
      co_return ok(protocol::ClaimReply{c->record.queue});  // a retried claim
    co_return perr(ErrorCode::kConflict, "another responder took this case");
  }
  // Exclusive in memory first (cheap), then by compare-and-swap on the row.
  if (!services_.hub.begin_claim(*id))
    co_return perr(ErrorCode::kConflict, "another responder is taking this case");
  CaseRecord record = c->record;
  record.claimed_by = *offer;
  std::vector<MailboxId> others;
  for (const auto& o : record.offers) {
    if (o.responder_id != responder_id_) others.push_back(responder_mailbox(*id, o.responder_id));
  }
  Verdict verdict = make_verdict();
  UnixSeconds now = services_.clock.now();
  auto update = [id = *id, expected = c->version, fields = encode_case_record(record), others, now,
                 verdict](Stores& s) -> Result<std::int64_t> {
    auto v = s.cases.update(id, expected, fields, now);
    if (v.status().code() == Code::kConflict)
      *verdict = perr(ErrorCode::kConflict, "another responder took this case");
    else if (v.status().code() == Code::kNotFound)
      *verdict = perr(ErrorCode::kNotFound, "no such case");
    if (!v.is_ok()) return v.status();
    // The other responders' intake copies are deleted with their mailboxes.
    for (const auto& m : others) HEARTH_TRY(s.envelopes.drop_mailbox(m));
    return v;
  };
  auto version = co_await write_job(update);
  services_.hub.end_claim(*id);
  if (!version.is_ok())
    co_return verdict->has_value() ? **verdict : storage_failure(version.status());
  services_.hub.update_case(*id, *version, record);
  after_reply_.push_back([this, id = *id, record] {
    const CaseParty& by = *record.claimed_by;
    services_.hub.for_vault(record.vault_login_key, [&](Peer& p) {
      p.push_case_claimed(id, by.certificate_hash, by.responder_id);
    });
    for (const auto& o : record.offers) {
      if (o.responder_id == by.responder_id) continue;
      services_.hub.for_responder(o.responder_id, [&](Peer& p) {
        p.push_case_claimed(id, by.certificate_hash, by.responder_id);
      });
    }
  });
  co_return ok(protocol::ClaimReply{record.queue});
}

}  // namespace hearth::server

#include "clients/lib/responder_session.h"

#include <algorithm>
#include <utility>

#include "crypto/prekeys.h"
#include "crypto/ratchet.h"

namespace hearth::client {
namespace {

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

bool same(ByteView a, ByteView b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

Bytes bytes_of(ByteView v) { return Bytes(v.begin(), v.end()); }

ResponderUpdate update(ResponderUpdate::Kind kind, ByteView case_id, std::string text = {}) {
  ResponderUpdate u;
  u.kind = kind;
  u.case_id = bytes_of(case_id);
  u.text = std::move(text);
  return u;
}

// Why a roster was refused, in words a responder can act on.
Status roster_refused(const Status& s) {
  std::string why;
  switch (s.code()) {
    case Code::kReplay:
      why = "the server's roster is older than one already accepted (rollback)";
      break;
    case Code::kConflict:
      why = "the server's roster differs from the one accepted at the same epoch (split view)";
      break;
    case Code::kExpired:
      why = "the server's roster has expired or is not yet valid";
      break;
    default:
      why = "the server's roster does not verify against the org key";
      break;
  }
  return Status(s.code(), why + ": " + s.message());
}

}  // namespace

ResponderSession::ResponderSession(ResponderStore& store, ResponderOptions options)
    : store_(store), options_(options) {}

ResponderSession::~ResponderSession() = default;

UnixSeconds ResponderSession::now() const {
  return (options_.clock != nullptr ? options_.clock : &system_clock())->now();
}

int ResponderSession::event_fd() const {
  return connection_ != nullptr ? connection_->event_fd() : -1;
}

Result<std::unique_ptr<ResponderSession>> ResponderSession::login(const Endpoint& endpoint,
                                                                  ResponderStore& store,
                                                                  const ResponderOptions& options) {
  std::unique_ptr<ResponderSession> session(new ResponderSession(store, options));
  HEARTH_TRY(session->do_login(endpoint));
  return session;
}

Status ResponderSession::reconnect() {
  connection_.reset();
  return do_login(endpoint_);
}

Status ResponderSession::do_login(const Endpoint& endpoint) {
  endpoint_ = endpoint;
  ResponderState& state = store_.state();
  HEARTH_ASSIGN_OR_RETURN(certificate_, store_.certificate());
  certificate_hash_ = certificate_.hash();
  seen_ = crypto::EphemeralKeyCache(kMaxSeenEphemerals);
  for (const auto& [spk_id, ephemeral] : state.seen_ephemerals)
    (void)seen_.check_and_remember(spk_id, ephemeral);
  HEARTH_ASSIGN_OR_RETURN(crypto::SigningKey signing, store_.signing_key());

  HEARTH_ASSIGN_OR_RETURN(connection_, Connection::connect(endpoint, options_.connection));
  HEARTH_ASSIGN_OR_RETURN(protocol::ChallengeReply challenge,
                          connection_->call(protocol::ChallengeRequest{}, options_.call_timeout));
  crypto::Signature signature = crypto::sign_responder_login(signing, challenge.challenge);
  HEARTH_ASSIGN_OR_RETURN(
      protocol::ResponderLoginReply reply,
      connection_->call(
          protocol::ResponderLoginRequest{state.certificate, bytes_of(signature.view())},
          options_.call_timeout));

  // The roster must chain to the org root and must not go back from the one
  // this responder accepted before.
  const UnixSeconds t = now();
  auto signed_roster = crypto::SignedRoster::decode(reply.roster);
  if (!signed_roster.is_ok()) return roster_refused(signed_roster.status());
  auto roster = crypto::verify_roster(state.org_root, signed_roster.value(), t, state.roster_pin);
  if (!roster.is_ok()) {
    connection_->close();
    return roster_refused(roster.status());
  }
  Status listed = roster->check_certificate(certificate_, t);
  if (!listed.is_ok()) {
    connection_->close();
    return Status(listed.code(),
                  "this responder's certificate is not valid on the roster: " + listed.message());
  }
  state.roster_pin = roster->pin();
  if (std::none_of(state.accepted_rosters.begin(), state.accepted_rosters.end(),
                   [&](const Bytes& h) { return h == roster->hash(); })) {
    state.accepted_rosters.push_back(roster->hash());
    while (state.accepted_rosters.size() > kMaxAcceptedRosters)
      state.accepted_rosters.erase(state.accepted_rosters.begin());
  }
  HEARTH_TRY(store_.save());

  info_ = LoginInfo{};
  info_.responder_id = reply.responder_id;
  info_.queues = roster->queues_of(certificate_hash_);  // what the roster says, not the server
  info_.roster_epoch = roster->epoch();
  info_.roster_expires_at = roster->expires_at();
  info_.roster_expires_in_hours = (roster->expires_at() - t) / 3600;
  if (roster->expires_at() - t < kRosterExpiryWarning) {
    info_.warnings.push_back("the roster expires in " +
                             std::to_string(info_.roster_expires_in_hours) +
                             " hours; ask the admin to renew it");
  }
  info_.one_time_prekeys = reply.one_time_prekeys;
  commits_seen_ = 0;
  last_waiting_ = -1;
  info_.outcomes = reply.outcomes;
  return keep_prekeys(reply.one_time_prekeys, reply.has_signed_prekey);
}

Status ResponderSession::keep_prekeys(std::int64_t server_one_time, bool server_has_signed) {
  ResponderState& state = store_.state();
  HEARTH_ASSIGN_OR_RETURN(crypto::SigningKey signing, store_.signing_key());
  const UnixSeconds t = now();

  // Signed prekey: a new one every kSignedPrekeyRotation; the previous ones are
  // kept (up to kMaxSignedPrekeys) for intake copies made with them.
  StoredSignedPrekey* current =
      state.signed_prekeys.empty() ? nullptr : &state.signed_prekeys.back();
  bool rotate = current == nullptr || t - current->created_at >= kSignedPrekeyRotation;
  if (rotate) {
    std::uint32_t id = state.next_signed_prekey_id++;
    auto [spk, key] = crypto::generate_signed_prekey(signing, id, t + kSignedPrekeyLifetime);
    state.signed_prekeys.push_back(
        {id, t, t + kSignedPrekeyLifetime, false, key.private_key().clone()});
    while (state.signed_prekeys.size() > kMaxSignedPrekeys) {
      std::uint32_t retired = state.signed_prekeys.front().id;
      state.signed_prekeys.erase(state.signed_prekeys.begin());
      seen_.forget_prekey(retired);
      std::erase_if(state.seen_ephemerals, [&](const auto& p) { return p.first == retired; });
    }
    current = &state.signed_prekeys.back();
  }
  std::optional<Bytes> signed_upload;
  if (rotate || !server_has_signed || !current->uploaded) {
    HEARTH_ASSIGN_OR_RETURN(crypto::DhKey key,
                            crypto::DhKey::from_private(current->private_key.view()));
    crypto::SignedPrekey spk{current->id, key.public_key(), current->expires_at, {}};
    spk.signature = signing.sign(spk.signed_part());  // Ed25519 is deterministic: the same bytes
    signed_upload = spk.encode();
  }

  // One-time prekeys: top up to the target when the server runs low.
  std::int64_t waiting = std::count_if(state.one_time_prekeys.begin(), state.one_time_prekeys.end(),
                                       [](const StoredOneTimePrekey& p) { return !p.uploaded; });
  if (server_one_time < kOneTimePrekeyLowWater) {
    std::int64_t wanted = kOneTimePrekeyTarget - server_one_time - waiting;
    if (wanted > 0) {
      auto fresh = crypto::generate_one_time_prekeys(signing, state.next_one_time_prekey_id,
                                                     static_cast<std::size_t>(wanted));
      state.next_one_time_prekey_id += static_cast<std::uint32_t>(wanted);
      for (auto& [opk, key] : fresh)
        state.one_time_prekeys.push_back({opk.id, false, key.private_key().clone()});
    }
  }
  // Secrets whose public halves went to survivors who never opened the case
  // would pile up: past the bound the oldest go.
  while (state.one_time_prekeys.size() > kMaxOneTimePrekeys)
    state.one_time_prekeys.erase(state.one_time_prekeys.begin());

  std::vector<std::uint32_t> pending;
  for (const StoredOneTimePrekey& p : state.one_time_prekeys) {
    if (!p.uploaded) pending.push_back(p.id);
  }
  if (!signed_upload && pending.empty()) return Status::ok();

  // The private halves are on disk before the server can hand out a public one.
  HEARTH_TRY(store_.save());
  std::size_t next = 0;
  do {
    protocol::UploadPrekeysRequest request;
    request.signed_prekey = std::exchange(signed_upload, std::nullopt);
    std::vector<std::uint32_t> batch;
    for (; next < pending.size() && batch.size() < protocol::kMaxPrekeysPerUpload; ++next) {
      for (const StoredOneTimePrekey& p : state.one_time_prekeys) {
        if (p.id != pending[next]) continue;
        HEARTH_ASSIGN_OR_RETURN(crypto::DhKey key,
                                crypto::DhKey::from_private(p.private_key.view()));
        crypto::OneTimePrekey opk{p.id, key.public_key(), {}};
        opk.signature = signing.sign(opk.signed_part());
        request.one_time_prekeys.push_back(opk.encode());
        batch.push_back(p.id);
      }
    }
    const bool had_signed = request.signed_prekey.has_value();
    auto uploaded = connection_->call(std::move(request), options_.call_timeout);
    // "conflict": the server already holds these ids (an earlier upload whose
    // reply was lost). Anything else: try again at the next login.
    if (!uploaded.is_ok() && protocol_error(uploaded.status()) != protocol::ErrorCode::kConflict) {
      info_.warnings.push_back("could not upload prekeys: " + uploaded.status().message());
      break;
    }
    if (uploaded.is_ok()) info_.one_time_prekeys = uploaded->one_time_prekeys;
    if (had_signed) {
      state.signed_prekeys.back().uploaded = true;
      info_.uploaded_signed_prekey = true;
    }
    for (StoredOneTimePrekey& p : state.one_time_prekeys) {
      if (std::find(batch.begin(), batch.end(), p.id) != batch.end()) p.uploaded = true;
    }
  } while (next < pending.size());
  return store_.save();
}

Result<std::vector<ResponderUpdate>> ResponderSession::poll(std::chrono::milliseconds timeout) {
  std::vector<ResponderUpdate> updates;
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  std::vector<protocol::Event> events;
  std::chrono::milliseconds wait = timeout;
  for (;;) {
    auto next = connection_->next_event(wait);
    wait = std::chrono::milliseconds(0);
    if (!next.is_ok()) {
      updates.push_back(update(replaced_by_newer_login(next.status())
                                   ? ResponderUpdate::Kind::kReplaced
                                   : ResponderUpdate::Kind::kDisconnected,
                               {}, next.status().message()));
      break;
    }
    if (!next->has_value()) break;
    Incoming& incoming = **next;
    if (auto* err = std::get_if<protocol::ProtocolError>(&incoming)) {
      updates.push_back(
          update(ResponderUpdate::Kind::kWarning, {},
                 std::string(protocol::error_code_name(err->code)) + ": " + err->message));
      continue;
    }
    events.push_back(std::move(std::get<protocol::Event>(incoming)));
  }
  if (events.empty()) return updates;

  ResponderState backup = store_.state().clone();
  // An intake copy moves a case's take-next reply from taken_ into the state:
  // a failed save must put both back, or the resent copy would lose it.
  auto taken_backup = taken_;
  std::vector<protocol::Request> acks;
  bool changed = false;
  refresh_roster_ = false;
  for (const protocol::Event& event : events) {
    if (const auto* ev = std::get_if<protocol::EnvelopeEvent>(&event)) {
      bool ack = true;
      if (ev->kind == protocol::EnvelopeKind::kIntake) {
        handle_intake(*ev, updates, changed, ack);
      } else {
        handle_message(*ev, updates, changed, ack);
      }
      if (ack) acks.emplace_back(protocol::AckRequest{ev->case_id, ev->seq});
    } else if (const auto* closed = std::get_if<protocol::CaseClosedEvent>(&event)) {
      // Deleted by the survivor, handed off to another team, or closed: in
      // each case this responder's part is over and its keys go.
      taken_.erase(closed->case_id);
      if (store_.state().find(closed->case_id) == nullptr) continue;
      drop_case(closed->case_id);
      changed = true;
      ResponderUpdate u = update(ResponderUpdate::Kind::kClosed, closed->case_id);
      u.reason = closed->reason;
      updates.push_back(std::move(u));
    } else if (const auto* waiting = std::get_if<protocol::WaitingEvent>(&event)) {
      // Each case committed since the last count may have used one of this
      // responder's one-time prekeys (fake cases too): counted, so the
      // server's stock is checked and topped up before it runs dry.
      if (last_waiting_ >= 0 && waiting->waiting > last_waiting_)
        commits_seen_ += waiting->waiting - last_waiting_;
      last_waiting_ = waiting->waiting;
      ResponderUpdate u = update(ResponderUpdate::Kind::kWaiting, {});
      u.waiting = waiting->waiting;
      u.urgent = waiting->urgent;
      updates.push_back(std::move(u));
    } else if (const auto* declined = std::get_if<protocol::HandoffDeclinedEvent>(&event)) {
      if (store_.state().find(declined->case_id) == nullptr) continue;
      updates.push_back(update(ResponderUpdate::Kind::kHandoffDeclined, declined->case_id));
    }
    // case_claimed, queue_status and handoff_proposed are for survivors.
  }
  if (changed) {
    // Persist before acknowledging, always. If the save fails, the state goes
    // back to what is on disk and nothing is acked: the server sends it again.
    Status saved = store_.save();
    if (!saved.is_ok()) {
      store_.state() = std::move(backup);
      taken_ = std::move(taken_backup);
      seen_ = crypto::EphemeralKeyCache(kMaxSeenEphemerals);
      for (const auto& [spk_id, ephemeral] : store_.state().seen_ephemerals)
        (void)seen_.check_and_remember(spk_id, ephemeral);
      return saved;
    }
  }
  if (!acks.empty()) (void)connection_->call_all(std::move(acks), options_.call_timeout);
  const auto now_steady = std::chrono::steady_clock::now();
  if (info_.one_time_prekeys - commits_seen_ < kOneTimePrekeyLowWater &&
      now_steady - last_prekey_check_ >= kPrekeyCheckInterval) {
    last_prekey_check_ = now_steady;
    // Perhaps low: ask the server (an upload of nothing answers its count),
    // then top up as at login.
    auto held = connection_->call(protocol::UploadPrekeysRequest{}, options_.call_timeout);
    Status topped = held.status();
    if (held.is_ok()) {
      info_.one_time_prekeys = held->one_time_prekeys;
      commits_seen_ = 0;
      topped = keep_prekeys(held->one_time_prekeys, /*server_has_signed=*/true);
    }
    if (!topped.is_ok())
      updates.push_back(update(ResponderUpdate::Kind::kWarning, {},
                               "could not top up one-time prekeys: " + topped.message()));
  }
  if (refresh_roster_) {
    // An intake names a roster newer than the one this responder accepted at
    // login (the admin renewed it since): log in again to fetch and verify it.
    // The unacknowledged intake is pushed again after the login.
    Status again = reconnect();
    if (!again.is_ok())
      updates.push_back(update(ResponderUpdate::Kind::kWarning, {},
                               "could not fetch the new roster: " + again.message()));
  }
  return updates;
}

void ResponderSession::handle_intake(const protocol::EnvelopeEvent& ev,
                                     std::vector<ResponderUpdate>& updates, bool& changed,
                                     bool& ack) {
  ResponderState& state = store_.state();
  auto warn = [&](std::string text) {
    updates.push_back(update(ResponderUpdate::Kind::kWarning, ev.case_id, std::move(text)));
  };
  // Already stored (the ack was lost): a duplicate.
  if (state.find(ev.case_id) != nullptr) return;
  if (state.cases.size() >= kMaxResponderCases) {
    ack = false;  // left on the server until cases are closed
    return warn("too many open cases in this store; an intake copy waits on the server");
  }
  auto body = decode_intake_body(ev.body);
  if (!body.is_ok()) return warn("a malformed intake copy was dropped");
  const crypto::X3dhHeader& header = body->header;
  if (!same(header.case_id, ev.case_id) ||
      !same(header.responder_certificate_hash, certificate_hash_))
    return warn("an intake copy for another case or responder was dropped");

  auto spk =
      std::find_if(state.signed_prekeys.begin(), state.signed_prekeys.end(),
                   [&](const StoredSignedPrekey& p) { return p.id == header.signed_prekey_id; });
  if (spk == state.signed_prekeys.end())
    return warn("an intake copy for a retired signed prekey was dropped");
  auto opk = state.one_time_prekeys.end();
  if (header.one_time_prekey_id) {
    opk = std::find_if(
        state.one_time_prekeys.begin(), state.one_time_prekeys.end(),
        [&](const StoredOneTimePrekey& p) { return p.id == *header.one_time_prekey_id; });
    // Its one-time prekey is spent: a replay of a handshake answered before.
    if (opk == state.one_time_prekeys.end()) return;
  } else if (std::find(state.seen_ephemerals.begin(), state.seen_ephemerals.end(),
                       std::pair{header.signed_prekey_id, header.ephemeral}) !=
             state.seen_ephemerals.end()) {
    return;  // a replayed handshake without a one-time prekey
  }

  auto identity = crypto::DhKey::from_private(state.dh_private.view());
  auto spk_key = crypto::DhKey::from_private(spk->private_key.view());
  if (!identity.is_ok() || !spk_key.is_ok()) return warn("the store's keys are damaged");
  std::optional<crypto::DhKey> opk_key;
  if (opk != state.one_time_prekeys.end()) {
    auto k = crypto::DhKey::from_private(opk->private_key.view());
    if (!k.is_ok()) return warn("the store's keys are damaged");
    opk_key = std::move(k).value();
  }
  if (std::none_of(state.accepted_rosters.begin(), state.accepted_rosters.end(),
                   [&](const Bytes& h) { return h == header.roster_hash; })) {
    // Made under a roster this responder has not seen: fetch the current one
    // once (by logging in again) before calling it a split view.
    if (roster_refreshed_for_.insert(header.roster_hash).second) {
      refresh_roster_ = true;
      ack = false;
      return;
    }
    return warn(
        "an intake copy names a roster this responder never accepted (split view?); "
        "dropped");
  }
  crypto::ResponderHandshakeKeys keys{certificate_, identity.value(), spk_key.value(),
                                      opk_key ? &*opk_key : nullptr};
  auto session = crypto::x3dh_respond(keys, header, state.accepted_rosters);
  if (!session.is_ok())
    return warn("an intake copy failed its handshake and was dropped: " +
                session.status().message());
  crypto::Ratchet ratchet = crypto::Ratchet::init_responder(
      std::move(session->shared_key), session->associated_data, spk_key->clone());
  auto plaintext = ratchet.decrypt(body->message);
  if (!plaintext.is_ok()) return warn("an intake copy did not decrypt and was dropped");
  auto decoded = decode_plaintext(plaintext.value());
  crypto::wipe(plaintext.value());

  // Only now, with the first message authentic, is the handshake remembered
  // (so a forged copy cannot block the real survivor) and the OPK deleted.
  if (!header.one_time_prekey_id) {
    if (!seen_.check_and_remember(header.signed_prekey_id, header.ephemeral).is_ok())
      return warn("too many handshakes remembered for this signed prekey; intake dropped");
    state.seen_ephemerals.emplace_back(header.signed_prekey_id, header.ephemeral);
  } else {
    state.one_time_prekeys.erase(opk);
  }
  // Intake copies come only for a case take_next() handed to this responder.
  ResponderCase c;
  c.case_id = ev.case_id;
  c.claimed = true;
  c.ratchet = ratchet.serialize();
  c.received_seq = ev.seq;
  ResponderUpdate u = update(ResponderUpdate::Kind::kNewCase, ev.case_id);
  u.minute = ev.sent_minute;
  if (auto taken = taken_.find(ev.case_id); taken != taken_.end()) {
    const protocol::TakenCase& t = taken->second;
    c.queue = t.queue;
    c.routing = CaseRouting{t.priority_class, t.envelope, t.interpreter, t.waited_s};
    u.taken = std::move(taken->second);
    taken_.erase(taken);
  }
  if (decoded.is_ok()) {
    append_bounded(c.transcript, {Author::kSurvivor, ev.sent_minute, decoded.value()});
    u.message = std::move(decoded).value();
  } else {
    u.text = "the first message was not readable";
  }
  state.cases.push_back(std::move(c));
  changed = true;
  updates.push_back(std::move(u));
}

void ResponderSession::handle_message(const protocol::EnvelopeEvent& ev,
                                      std::vector<ResponderUpdate>& updates, bool& changed,
                                      bool& /*ack*/) {
  ResponderCase* c = store_.state().find(ev.case_id);
  // A case no longer here, or a message already stored: acked and ignored.
  if (c == nullptr || ev.seq <= c->received_seq) return;
  c->received_seq = ev.seq;
  changed = true;
  auto ratchet = crypto::Ratchet::deserialize(c->ratchet.view());
  if (!ratchet.is_ok()) {
    updates.push_back(update(ResponderUpdate::Kind::kWarning, ev.case_id,
                             "the session state is damaged; a message was dropped"));
    return;
  }
  auto plaintext = ratchet->decrypt(ev.body);
  if (!plaintext.is_ok()) {
    if (plaintext.status().code() != Code::kReplay) {
      updates.push_back(update(ResponderUpdate::Kind::kWarning, ev.case_id,
                               "a message could not be decrypted and was dropped"));
    }
    return;
  }
  c->ratchet = ratchet->serialize();
  auto decoded = decode_plaintext(plaintext.value());
  crypto::wipe(plaintext.value());
  if (!decoded.is_ok()) {
    updates.push_back(update(ResponderUpdate::Kind::kWarning, ev.case_id,
                             "a message was not readable and was dropped"));
    return;
  }
  append_bounded(c->transcript, {Author::kSurvivor, ev.sent_minute, decoded.value()});
  ResponderUpdate u = update(ResponderUpdate::Kind::kMessage, ev.case_id);
  u.message = std::move(decoded).value();
  u.minute = ev.sent_minute;
  updates.push_back(std::move(u));
}

void ResponderSession::drop_case(ByteView case_id) {
  std::erase_if(store_.state().cases,
                [&](const ResponderCase& c) { return same(c.case_id, case_id); });
}

Result<std::optional<protocol::TakenCase>> ResponderSession::take_next() {
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  HEARTH_ASSIGN_OR_RETURN(protocol::TakeNextReply reply,
                          connection_->call(protocol::TakeNextRequest{}, options_.call_timeout));
  if (reply.taken) {
    // Remembered until its intake copy arrives (poll()), which names the queue
    // in the store and hands the routing fields to the UI with the first message.
    if (taken_.size() >= kMaxResponderCases) taken_.erase(taken_.begin());
    taken_[reply.taken->case_id] = *reply.taken;
  }
  return std::move(reply.taken);
}

Status ResponderSession::propose_handoff(ByteView case_id, std::string_view queue) {
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  if (store_.state().find(case_id) == nullptr)
    return error(Code::kNotFound, "no such case in this store");
  if (!crypto::is_valid_queue_name(queue))
    return error(Code::kInvalidArgument, "not a queue name (a-z, 0-9 and -)");
  HEARTH_ASSIGN_OR_RETURN(
      protocol::HandoffReply reply,
      connection_->call(protocol::HandoffRequest{bytes_of(case_id), std::string(queue)},
                        options_.call_timeout));
  (void)reply;
  return Status::ok();
}

Status ResponderSession::close_case(ByteView case_id, std::string_view outcome) {
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  if (store_.state().find(case_id) == nullptr)
    return error(Code::kNotFound, "no such case in this store");
  HEARTH_ASSIGN_OR_RETURN(
      protocol::CloseCaseReply reply,
      connection_->call(protocol::CloseCaseRequest{bytes_of(case_id), std::string(outcome)},
                        options_.call_timeout));
  (void)reply;
  // The outcome is recorded; the session keys and transcript need not outlive
  // the case on this machine.
  drop_case(case_id);
  return store_.save();
}

Result<protocol::QueueHealthReply> ResponderSession::queue_health() {
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  return connection_->call(protocol::QueueHealthRequest{}, options_.call_timeout);
}

Result<protocol::DismissWaitingReply> ResponderSession::dismiss_waiting(
    const protocol::DismissWaitingRequest& request) {
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  return connection_->call(request, options_.call_timeout);
}

Status ResponderSession::send(ByteView case_id, std::string_view text) {
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  HEARTH_ASSIGN_OR_RETURN(Bytes plaintext, encode_text(text));
  ResponderCase* c = store_.state().find(case_id);
  if (c == nullptr) return error(Code::kNotFound, "no such case in this store");
  if (!c->claimed) return error(Code::kInvalidArgument, "this case was not handed to you");
  HEARTH_ASSIGN_OR_RETURN(crypto::Ratchet ratchet, crypto::Ratchet::deserialize(c->ratchet.view()));
  HEARTH_ASSIGN_OR_RETURN(Bytes body, ratchet.encrypt(plaintext));
  // The advanced ratchet is saved before the message leaves: after a crash the
  // next message uses the next key, never this one again.
  crypto::SecretBytes previous = std::move(c->ratchet);
  c->ratchet = ratchet.serialize();
  Status saved = store_.save();
  if (!saved.is_ok()) {
    c->ratchet = std::move(previous);
    return saved;
  }
  HEARTH_ASSIGN_OR_RETURN(
      protocol::SendReply sent,
      connection_->call(protocol::SendRequest{bytes_of(case_id), std::move(body), std::nullopt},
                        options_.call_timeout));
  (void)sent;
  c = store_.state().find(case_id);
  if (c == nullptr) return Status::ok();
  HEARTH_ASSIGN_OR_RETURN(Plaintext entry, decode_plaintext(plaintext));
  append_bounded(c->transcript, {Author::kResponder, to_minute(now()), std::move(entry)});
  return store_.save();
}

Status ResponderSession::set_presence(protocol::Presence presence, std::uint32_t capacity) {
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  HEARTH_ASSIGN_OR_RETURN(
      protocol::PresenceReply reply,
      connection_->call(protocol::PresenceRequest{presence, capacity}, options_.call_timeout));
  (void)reply;
  return Status::ok();
}

}  // namespace hearth::client

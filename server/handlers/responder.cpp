#include <algorithm>
#include <set>

#include "crypto/encoding.h"
#include "crypto/pow.h"
#include "crypto/prekeys.h"
#include "crypto/random.h"
#include "crypto/vault.h"
#include "server/client_state.h"
#include "server/handlers/handler_util.h"

namespace hearth::server {

namespace asio = boost::asio;
using handlers::case_id_of;
using handlers::make_verdict;
using handlers::no_such_case;
using handlers::ok;
using handlers::perr;
using handlers::room_full;
using handlers::Verdict;
using protocol::ErrorCode;
using protocol::ProtocolError;
using storage::CaseId;
using storage::MailboxId;
using storage::Stores;

// responder_login: anonymous.
asio::awaitable<ClientState::Handled> ClientState::on_responder_login(
    const protocol::ResponderLoginRequest& req) {
  if (auto e = require_anonymous()) co_return *e;
  if (!challenge_) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
  Bytes challenge = std::move(*challenge_);
  challenge_.reset();
  // Past the server-wide budget for failures, no signature check at all.
  FailedLoginBudget& budget = services_.responder_login_failures;
  FollowUps next;
  if (auto refused = login_allowed(budget, next)) co_return Handled{*refused, std::move(next)};
  Handled handled = co_await responder_login_attempt(req, challenge);
  if (auto* e = std::get_if<ProtocolError>(&handled.outcome))
    login_failed(budget, *e, handled.next);
  co_return handled;
}

asio::awaitable<ClientState::Handled> ClientState::responder_login_attempt(
    const protocol::ResponderLoginRequest& req, const Bytes& challenge) {
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
  // The certificate's signature is checked once per roster (RelayHub).
  bool cached = false;
  Status checked =
      services_.hub.check_certificate(*roster, *cert, hash, now, std::nullopt, &cached);
  if (cached) services_.metrics.certificate_checks_cached.fetch_add(1);
  if (!checked.is_ok()) {
    // Expired and not listed are named; anything else does not verify.
    auto e = expected_error(StorageStep::kCertificate, checked.code());
    co_return e ? *e : *expected_error(StorageStep::kCertificate, Code::kAuthFailed);
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
  reply.outcomes = services_.hub.rules().outcomes;
  reply.one_time_prekeys = held->one_time_prekeys;
  reply.has_signed_prekey = held->has_signed_prekey;
  co_return Handled{ok(std::move(reply)),
                    {follow::Register{/*watch_cases=*/true}, follow::RefreshWaitingRoom{}}};
}

// upload_prekeys: responder; every prekey signed by the certificate's key.
asio::awaitable<ClientState::Handled> ClientState::on_upload_prekeys(
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
      if (!st.is_ok()) {
        *verdict = expected_error(StorageStep::kPrekeyUpload, st.code());
        return st;
      }
    }
    return s.prekeys.one_time_prekey_count(as_bytes(rid));
  };
  auto count = co_await write_job(store);
  if (!count.is_ok()) co_return verdict->has_value() ? **verdict : storage_failure(count.status());
  co_return ok(protocol::UploadPrekeysReply{*count});
}

// presence: responder; kept in memory for routing (docs/routing.md).
asio::awaitable<ClientState::Handled> ClientState::on_presence(
    const protocol::PresenceRequest& req) {
  if (auto e = require_responder()) co_return *e;
  if (req.capacity < 1 || req.capacity > 50)
    co_return perr(ErrorCode::kBadField, "capacity: must be between 1 and 50");
  services_.hub.set_presence(responder_id_, PresenceState{req.status, req.capacity});
  co_return Handled{ok(protocol::PresenceReply{}), {follow::RefreshWaitingRoom{}}};
}

// take_next: responder. The dispatcher picks (exclusively, in memory), then
// the claim commits; if it cannot, the case goes back to waiting.
asio::awaitable<ClientState::Handled> ClientState::on_take_next(const protocol::TakeNextRequest&) {
  if (auto e = require_responder()) co_return *e;
  auto view = services_.hub.responder_view(responder_id_);
  if (view && !view->available)
    co_return perr(ErrorCode::kForbidden, "you are away: set presence to available first");
  if (view && view->load >= view->capacity)
    co_return perr(ErrorCode::kLimitExceeded,
                   "you hold as many cases as your capacity; close one or raise it");
  protocol::TakeNextReply reply;
  auto taken = services_.hub.take_next(responder_id_);
  if (!taken) co_return ok(std::move(reply));
  auto id = CaseId::from(taken->key);
  std::optional<OpenCase> c;
  if (id.is_ok()) c = services_.hub.get_case(*id);
  const CaseParty* offer = c ? c->record.offer_for(responder_id_) : nullptr;
  if (offer == nullptr) {
    // The dispatcher only hands out cases offered to this responder whose
    // record exists; anything else is a bug. Drop it from the room.
    if (id.is_ok()) services_.hub.untrack_case(*id);
    log::logger().error("take_next_inconsistent");
    co_return perr(ErrorCode::kInternal, "internal error");
  }
  CaseRecord record = c->record;
  record.claimed_by = *offer;
  record.queue = taken->queue;  // where it was taken, after any escalation
  std::vector<MailboxId> others;
  for (const auto& o : record.offers) {
    if (o.responder_id != responder_id_) others.push_back(responder_mailbox(*id, o.responder_id));
  }
  // The other responders' intake copies were never delivered: they go now.
  ExtraStorage drop_others = [others](Stores& s) -> Status {
    for (const auto& m : others) HEARTH_TRY(s.envelopes.drop_mailbox(m));
    return Status::ok();
  };
  auto failed = co_await update_case(*c, record, drop_others);
  if (failed) {
    services_.hub.untake(*c);
    services_.hub.refresh();
    co_return *failed;
  }
  const triage::Rules rules = services_.hub.rules();
  protocol::TakenCase out;
  out.case_id = taken->key;
  out.queue = taken->queue;
  out.priority_class = taken->priority_class < rules.classes.size()
                           ? rules.classes[taken->priority_class].name
                           : std::string("unknown");
  out.envelope = taken->envelope;
  out.interpreter = taken->interpreter;
  out.waited_s = taken->waited;
  reply.taken = std::move(out);
  const CaseParty& by = *record.claimed_by;
  // The intake copy (seq 1 of this responder's mailbox) comes from storage.
  co_return Handled{
      ok(std::move(reply)),
      {follow::Watch{responder_mailbox(*id, responder_id_), *id, /*responder_side=*/true},
       follow::TellVault{record.vault_login_key,
                         follow::CaseClaimed{*id, by.certificate_hash, by.responder_id}},
       follow::RefreshWaitingRoom{}}};
}

// queue_health: responders listed under the roster queue "supervisor".
asio::awaitable<ClientState::Handled> ClientState::on_queue_health(
    const protocol::QueueHealthRequest&) {
  if (auto e = require_responder()) co_return *e;
  auto queues = services_.hub.roster()->verified.queues_of(certificate_hash_);
  if (std::find(queues.begin(), queues.end(), handlers::kSupervisorQueue) == queues.end())
    co_return perr(ErrorCode::kForbidden, "supervisors only");
  protocol::QueueHealthReply reply;
  for (const auto& q : services_.hub.health()) {
    protocol::QueueHealthEntry entry;
    entry.queue = q.queue;
    for (const auto& k : q.classes)
      entry.classes.push_back(
          {k.name, static_cast<std::int64_t>(k.waiting), k.longest_wait, k.target});
    entry.responders_available = static_cast<std::int64_t>(q.responders_available);
    entry.responders_away = static_cast<std::int64_t>(q.responders_away);
    entry.load = q.load;
    entry.capacity = q.capacity;
    reply.queues.push_back(std::move(entry));
  }
  co_return ok(std::move(reply));
}

}  // namespace hearth::server

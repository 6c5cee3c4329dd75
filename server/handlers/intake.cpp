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

// pow_challenge: anonymous or survivor. One live challenge per connection,
// priced now: a new one replaces (and releases) the previous.
asio::awaitable<ClientState::Handled> ClientState::on_pow_challenge(
    const protocol::PowChallengeRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  if (pow_challenge_) services_.pow.release(*std::exchange(pow_challenge_, std::nullopt));
  pow_challenge_ = services_.pow.issue(req.urgency == protocol::Urgency::kDangerNow,
                                       services_.hub.waiting_count());
  const auto ttl = static_cast<std::uint32_t>(services_.config.pow.challenge_ttl.count());
  co_return ok(protocol::PowChallengeReply{pow_challenge_->challenge, pow_challenge_->effort, ttl});
}

std::optional<ProtocolError> ClientState::spend_pow_challenge(const protocol::RouteRequest& req) {
  auto refused = [&](std::size_t reason, ErrorCode code, std::string_view message) {
    services_.metrics.pow_refused[reason].fetch_add(1, std::memory_order_relaxed);
    return std::optional<ProtocolError>(perr(code, std::string(message)));
  };
  // Taken out first: whatever happens below, this route spends it.
  std::optional<PowState::Issued> issued = std::exchange(pow_challenge_, std::nullopt);
  const bool same = issued && issued->challenge == req.pow.challenge;
  if (!same) {
    if (issued) services_.pow.release(*issued);
    if (!spent_pow_challenge_.empty() && spent_pow_challenge_ == req.pow.challenge)
      return refused(1, ErrorCode::kPowReplayed, "this challenge was already spent");
    return refused(0, ErrorCode::kPowStale, "no such challenge here; ask for a new one");
  }
  spent_pow_challenge_ = issued->challenge;
  const bool danger_now = req.envelope.urgency == protocol::Urgency::kDangerNow;
  if (services_.clock.now() >= issued->expires || danger_now != issued->danger_now) {
    services_.pow.release(*issued);
    return refused(0, ErrorCode::kPowStale,
                   "the challenge expired or was asked for another urgency; ask again");
  }
  Bytes request_hash =
      crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(req.envelope)));
  Status pow = services_.pow.spend(*issued, req.pow.nonce, "route", request_hash);
  if (pow.is_ok()) return std::nullopt;
  if (pow.code() == Code::kAuthFailed)
    return refused(2, ErrorCode::kPowInsufficient, "the proof of work does not meet the effort");
  return perr(ErrorCode::kBadField, "pow: malformed");
}

// route: anonymous or survivor.
asio::awaitable<ClientState::Handled> ClientState::on_route(const protocol::RouteRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  // The challenge is spent first, whatever the outcome: one challenge buys
  // one attempt, never a proof kept for later.
  if (auto e = spend_pow_challenge(req)) co_return *e;
  expire_routes();
  if (routes_.size() >= services_.config.limits.max_routes_per_connection)
    co_return perr(ErrorCode::kLimitExceeded, "too many unused routes on this connection");
  // Checked again when the case commits (open_case); here it spares the
  // prekeys. danger-now may use the reserved share.
  if (!services_.hub.has_room(req.envelope)) co_return room_full();

  auto roster = services_.hub.roster();
  UnixSeconds now = services_.clock.now();
  triage::Decision decision = services_.hub.preview(req.envelope);
  // The decision's candidates, best first, with the certificate each is
  // routed under (responders who never logged in have no prekeys anyway).
  std::vector<KnownCertificate> candidates;
  {
    auto current = services_.hub.current_certificates();
    for (const auto& rid : decision.candidates) {
      auto it = std::find_if(current.begin(), current.end(), [&](const KnownCertificate& k) {
        return k.certificate.fields.responder_id == rid;
      });
      if (it != current.end()) candidates.push_back(*it);
      if (candidates.size() >= protocol::kMaxBundles) break;
    }
  }
  // The one-time prekeys shown are only reserved, for as long as the route
  // lives: an unused route costs the responders none.
  const std::uint64_t token = services_.reservations.new_token();
  const UnixSeconds reserved_until =
      now + services_.config.limits.route_ttl.count() + PrekeyReservations::kGrace;
  auto offered = co_await claim_bundles(candidates, token, reserved_until);
  if (!offered.is_ok()) co_return storage_failure(offered.status());
  if (offered->empty())
    co_return perr(ErrorCode::kNoResponder, "nobody can take this request's queue now");
  log::logger().debug("routed", {{"rules_version", decision.rules_version},
                                 {"target", decision.placement.target},
                                 {"offers", offered->size()}});

  PendingRoute route;
  route.id = storage::random_id<CaseId>();
  route.queue = decision.queue;
  route.expires = now + services_.config.limits.route_ttl.count();
  route.envelope = req.envelope;
  route.decision = decision;
  route.routed_at = now;
  protocol::RouteReply reply;
  reply.case_id.assign(route.id.bytes.begin(), route.id.bytes.end());
  reply.queue = decision.queue;
  reply.roster = roster->encoded;
  for (auto& o : *offered) {
    route.offers.push_back(o.party);
    reply.bundles.push_back(std::move(o.bundle));
    if (o.reserved) route.reserved.push_back(std::move(*o.reserved));
  }
  routes_.push_back(std::move(route));
  co_return ok(std::move(reply));
}

std::optional<ProtocolError> ClientState::match_copies(
    const PendingRoute& route, const std::vector<protocol::IntakeCopy>& intake,
    std::vector<Copy>& copies) {
  std::set<Bytes> seen;
  for (const auto& copy : intake) {
    auto offer = std::find_if(route.offers.begin(), route.offers.end(), [&](const CaseParty& p) {
      return p.certificate_hash == copy.certificate_hash;
    });
    if (offer == route.offers.end())
      return perr(ErrorCode::kBadField, "intake: a copy for a certificate that was not offered");
    if (!seen.insert(copy.certificate_hash).second)
      return perr(ErrorCode::kBadField, "intake: two copies for one certificate");
    copies.push_back({*offer, copy.body});
  }
  if (copies.empty()) return perr(ErrorCode::kMissingField, "intake: at least one copy");
  return std::nullopt;
}

asio::awaitable<Result<std::vector<ClientState::Offered>>> ClientState::claim_bundles(
    const std::vector<KnownCertificate>& candidates, std::uint64_t token, UnixSeconds expires) {
  UnixSeconds now = services_.clock.now();
  PrekeyReservations* reservations = &services_.reservations;
  // A write job although it writes nothing: jobs on the writer run in order,
  // so a prekey a commit consumed (and then released) is never found again.
  auto claim_prekeys = [candidates, now, token, expires,
                        reservations](Stores& s) -> Result<std::vector<Offered>> {
    std::vector<Offered> out;
    std::vector<PrekeyReservations::Held> held;
    auto fail = [&](Status status) -> Result<std::vector<Offered>> {
      reservations->release(held);
      return status;
    };
    for (const auto& c : candidates) {
      const std::string& rid = c.certificate.fields.responder_id;
      auto spk = s.prekeys.current_signed_prekey(as_bytes(rid));
      if (!spk.is_ok()) {
        if (spk.status().code() == Code::kNotFound) continue;
        return fail(spk.status());
      }
      auto parsed = crypto::SignedPrekey::decode(spk->record);
      if (!parsed.is_ok() || parsed->expires_at <= now) continue;
      auto opk = s.prekeys.find_one_time_prekey(as_bytes(rid), [&](std::uint32_t id) {
        return reservations->try_reserve(rid, id, token, now, expires);
      });
      if (!opk.is_ok()) return fail(opk.status());
      protocol::Bundle b{c.encoded, spk->record, std::nullopt};
      std::optional<PrekeyReservations::Held> reserved;
      if (opk->has_value()) {
        b.one_time_prekey = (*opk)->record;
        reserved = PrekeyReservations::Held{rid, (*opk)->id, token};
        held.push_back(*reserved);
      }
      out.push_back({CaseParty{c.hash, rid}, std::move(b), std::move(reserved)});
    }
    return out;
  };
  auto offered = co_await write_job(claim_prekeys);
  if (offered.is_ok()) {
    for (const auto& o : *offered)
      if (o.reserved) services_.metrics.prekeys_reserved.fetch_add(1);
  }
  co_return offered;
}

Status ClientState::consume_prekeys(Stores& s,
                                    const std::vector<PrekeyReservations::Held>& reserved,
                                    const std::vector<Copy>& copies) {
  for (const auto& h : reserved) {
    // A bundle the survivor made no copy for was not used: its prekey stays.
    if (std::none_of(copies.begin(), copies.end(),
                     [&](const Copy& c) { return c.party.responder_id == h.responder_id; }))
      continue;
    auto gone = s.prekeys.consume_one_time_prekey(as_bytes(h.responder_id), h.prekey_id);
    if (!gone.is_ok()) return gone.status();
  }
  return Status::ok();
}

// open_case: anonymous (with a new vault) or survivor (without).
asio::awaitable<ClientState::Handled> ClientState::on_open_case(
    const protocol::OpenCaseRequest& req) {
  if (auto e = require_not_responder()) co_return *e;
  // Single use: an open_case that brings a vault spends the challenge whatever
  // comes of it, so each guess at a proof costs a round trip.
  std::optional<Bytes> challenge;
  if (req.vault) challenge.swap(challenge_);
  expire_routes();
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto route_it = std::find_if(routes_.begin(), routes_.end(),
                               [&](const PendingRoute& r) { return r.id == *id && !r.handoff; });
  if (route_it == routes_.end())
    co_return perr(ErrorCode::kNotFound, "no such route on this connection, or it expired");
  if (role_ == Role::kAnonymous && !req.vault)
    co_return perr(ErrorCode::kBadField, "vault: required to open a case without a vault login");
  if (role_ == Role::kSurvivor && req.vault)
    co_return perr(ErrorCode::kBadField, "vault: not allowed once logged into a vault");
  // A new vault's login key becomes the survivor's identity for every later
  // check (send, ack, delete_case, delivery), and it is public: the caller
  // must prove it holds the key, for this challenge, case and login id.
  if (req.vault) {
    if (!challenge) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
    auto key = crypto::SigningPublicKey::from(req.vault->login_key);
    auto sig = crypto::Signature::from(req.vault->signature);
    if (!key.is_ok() || !sig.is_ok() ||
        !crypto::verify_open_case(*key, *challenge, req.case_id, req.vault->login_id, *sig).is_ok())
      co_return perr(ErrorCode::kAuthFailed, "vault: the login key proof does not verify");
  }

  std::vector<Copy> copies;
  if (auto bad = match_copies(*route_it, req.intake, copies)) co_return *bad;

  const bool new_vault = req.vault.has_value();
  Bytes login_id = new_vault ? req.vault->login_id : login_id_;
  Bytes login_key = new_vault ? req.vault->login_key : login_key_;
  if (!services_.hub.reserve_case_slot(login_key, services_.config.limits.max_open_cases_per_vault))
    co_return perr(ErrorCode::kLimitExceeded, "this vault has as many open cases as allowed");
  // The waiting room's cap holds at commit: a place is held until the case
  // is in (the route stays usable until its TTL, to try again).
  RelayHub::PlaceHold place = services_.hub.hold_place(route_it->envelope);
  if (!place) {
    services_.hub.release_case_slot(login_key);
    co_return room_full();
  }

  UnixSeconds now = services_.clock.now();
  const triage::Decision& decision = route_it->decision;
  CaseRecord record;
  record.queue = route_it->queue;
  record.vault_login_key = login_key;
  for (const auto& c : copies) record.offers.push_back(c.party);
  CaseRouting routing;
  routing.envelope = route_it->envelope;
  routing.rules_version = decision.rules_version;
  routing.filter = decision.placement.filter == triage::kDefaultChain
                       ? 0xffffffffU
                       : static_cast<std::uint32_t>(decision.placement.filter);
  routing.target = static_cast<std::uint32_t>(decision.placement.target);
  routing.arrived = to_minute(route_it->routed_at);
  record.routing = routing;
  const UnixSeconds arrived = route_it->routed_at;
  Bytes fields = encode_case_record(record);
  std::size_t bytes = new_vault ? req.vault->blob.size() : 0;
  for (const auto& c : copies) bytes += c.body.size();

  struct Opened {
    std::int64_t vault_version = 0;
    std::vector<std::int64_t> seqs;
  };
  Verdict verdict = make_verdict();
  const std::vector<PrekeyReservations::Held> reserved = route_it->reserved;
  auto job = [id = *id, fields, vault = req.vault, login_id, copies, now, verdict,
              reserved](Stores& s) -> Result<Opened> {
    Opened out;
    if (vault) {
      Status st = s.vaults.create(vault->login_id, vault->login_key, vault->blob);
      *verdict = expected_error(StorageStep::kVaultCreate, st.code());
      if (!st.is_ok()) return st;
      out.vault_version = 1;
    } else {
      auto v = s.vaults.get(login_id);
      if (!v.is_ok()) {
        *verdict = expected_error(StorageStep::kVaultRead, v.status().code());
        return v.status();
      }
      out.vault_version = v->version;
    }
    HEARTH_TRY(s.cases.create(id, fields, now));
    // The one-time prekeys the copies were sealed to go now, with the case.
    HEARTH_TRY(consume_prekeys(s, reserved, copies));
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
  OpenCase opened_case{*id, 1, minute, record};
  services_.hub.add_case(opened_case);
  services_.hub.release_case_slot(login_key);
  for (const auto& h : reserved) {
    if (std::any_of(copies.begin(), copies.end(),
                    [&](const Copy& c) { return c.party.responder_id == h.responder_id; }))
      services_.metrics.prekeys_consumed.fetch_add(1);
  }
  // The route goes; its reservations end (the used prekeys are deleted).
  drop_routes([&](const PendingRoute& r) { return r.id == *id; });
  services_.metrics.messages_relayed.fetch_add(copies.size());
  if (new_vault) {
    role_ = Role::kSurvivor;
    login_id_ = login_id;
    login_key_ = login_key;
  }
  feed_.watch(survivor_mailbox(*id), *id, /*responder_side=*/false, /*fetch_backlog=*/false);
  // The case waits from before the reply, so a responder told of it can take
  // it at once. The intake copies wait in their mailboxes: each is pushed
  // only to the responder take_next hands the case to.
  services_.hub.track_case(opened_case, arrived);
  FollowUps next;
  if (new_vault) next.push_back(follow::Register{/*watch_cases=*/false});
  next.push_back(follow::CasesChanged{});
  next.push_back(follow::RefreshWaitingRoom{});
  co_return Handled{ok(protocol::OpenCaseReply{opened->vault_version}), std::move(next)};
}

}  // namespace hearth::server

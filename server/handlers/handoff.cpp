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

// handoff: responder, for a case they hold.
asio::awaitable<ClientState::Handled> ClientState::on_handoff(const protocol::HandoffRequest& req) {
  if (auto e = require_responder()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  auto queues = services_.hub.rules().queues();
  if (std::find(queues.begin(), queues.end(), req.queue) == queues.end())
    co_return perr(ErrorCode::kBadField, "queue: not a queue of the routing rules");
  if (req.queue == c->record.queue)
    co_return perr(ErrorCode::kBadField, "queue: the case is already in this queue");
  // The survivor is asked only when someone else could take it there.
  auto roster = services_.hub.roster();
  UnixSeconds now = services_.clock.now();
  auto current = services_.hub.current_certificates();
  if (std::none_of(current.begin(), current.end(), [&](const KnownCertificate& k) {
        return k.certificate.fields.responder_id != responder_id_ &&
               roster->verified.check_certificate(k.certificate, now, req.queue).is_ok();
      }))
    co_return perr(ErrorCode::kNoResponder, "nobody else can take cases in that queue");
  CaseRecord record = c->record;
  record.handoff_queue = req.queue;
  ExtraStorage none;
  auto failed = co_await update_case(*c, record, none);
  if (failed) co_return *failed;
  protocol::HandoffProposedEvent event{Bytes(c->id.bytes.begin(), c->id.bytes.end()),
                                       *record.handoff_queue};
  co_return Handled{ok(protocol::HandoffReply{}),
                    {follow::TellVault{record.vault_login_key, protocol::Event(std::move(event))}}};
}

// handoff_offer: survivor, for their case with a handoff proposed.
asio::awaitable<ClientState::Handled> ClientState::on_handoff_offer(
    const protocol::HandoffOfferRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  if (!c->record.handoff_queue || !c->record.routing)
    co_return perr(ErrorCode::kNotFound, "no handoff is proposed for this case");
  expire_routes();
  drop_routes([&](const PendingRoute& r) { return r.id == c->id; });
  if (routes_.size() >= services_.config.limits.max_routes_per_connection)
    co_return perr(ErrorCode::kLimitExceeded, "too many unused routes on this connection");
  const std::string& queue = *c->record.handoff_queue;
  const auto& envelope = c->record.routing->envelope;
  auto roster = services_.hub.roster();
  UnixSeconds now = services_.clock.now();
  // While an offer for this case and queue is pending (asked on any of the
  // vault's connections), it is the answer again: asking twice reserves
  // nothing new.
  auto pending = services_.reservations.handoff_offer(c->id, queue, now);
  if (!pending) {
    auto made = co_await make_handoff_offer(*c, queue, now);
    if (auto* e = std::get_if<ProtocolError>(&made)) co_return *e;
    pending = std::move(std::get<PrekeyReservations::HandoffOffer>(made));
  }
  PendingRoute route;
  route.id = c->id;
  route.handoff = true;
  route.offer_token = pending->token;
  route.queue = queue;
  route.offers = pending->offers;
  route.expires = pending->expires;
  route.envelope = envelope;
  route.routed_at = now;
  protocol::HandoffOfferReply reply;
  reply.queue = queue;
  reply.roster = roster->encoded;
  reply.bundles = pending->bundles;
  routes_.push_back(std::move(route));
  co_return ok(std::move(reply));
}

asio::awaitable<std::variant<PrekeyReservations::HandoffOffer, ProtocolError>>
ClientState::make_handoff_offer(const OpenCase& c, const std::string& queue, UnixSeconds now) {
  using Made = std::variant<PrekeyReservations::HandoffOffer, ProtocolError>;
  auto roster = services_.hub.roster();
  const auto& envelope = c.record.routing->envelope;
  // Everyone the roster lists under the new queue except the responder who
  // proposed it, language matches first.
  std::vector<KnownCertificate> matched;
  std::vector<KnownCertificate> others;
  for (auto& k : services_.hub.current_certificates()) {
    const auto& f = k.certificate.fields;
    if (c.record.claimed_by && f.responder_id == c.record.claimed_by->responder_id) continue;
    if (!services_.hub.check_certificate(*roster, k.certificate, k.hash, now, queue).is_ok())
      continue;
    bool shares = std::any_of(
        envelope.languages.begin(), envelope.languages.end(), [&](const std::string& l) {
          return std::find(f.languages.begin(), f.languages.end(), l) != f.languages.end();
        });
    (shares ? matched : others).push_back(std::move(k));
  }
  for (auto& k : others) matched.push_back(std::move(k));
  if (matched.size() > protocol::kMaxBundles) matched.resize(protocol::kMaxBundles);
  PrekeyReservations::HandoffOffer offer;
  offer.token = services_.reservations.new_token();
  offer.queue = queue;
  offer.expires = now + services_.config.limits.route_ttl.count();
  const UnixSeconds reserved_until = offer.expires + PrekeyReservations::kGrace;
  auto offered = co_await claim_bundles(matched, offer.token, reserved_until);
  if (!offered.is_ok()) co_return Made(storage_failure(offered.status()));
  if (offered->empty())
    co_return Made(perr(ErrorCode::kNoResponder, "nobody can take the proposed queue now"));
  for (auto& o : *offered) {
    offer.offers.push_back(o.party);
    offer.bundles.push_back(std::move(o.bundle));
    if (o.reserved) offer.reserved.push_back(std::move(*o.reserved));
  }
  std::vector<PrekeyReservations::Held> mine = offer.reserved;
  const std::uint64_t token = offer.token;
  auto in_force = services_.reservations.put_handoff_offer(c.id, std::move(offer), now);
  // Another connection of the vault made one meanwhile: theirs stands.
  if (in_force.token != token) services_.reservations.release(mine);
  co_return Made(std::move(in_force));
}

// handoff_accept: survivor, with new intake copies for the offered bundles.
asio::awaitable<ClientState::Handled> ClientState::on_handoff_accept(
    const protocol::HandoffAcceptRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  expire_routes();
  auto route_it = std::find_if(routes_.begin(), routes_.end(),
                               [&](const PendingRoute& r) { return r.id == c->id && r.handoff; });
  if (route_it == routes_.end() || !c->record.routing || c->record.handoff_queue != route_it->queue)
    co_return perr(ErrorCode::kNotFound, "no handoff offer on this connection, or it expired");
  std::vector<Copy> copies;
  if (auto bad = match_copies(*route_it, req.intake, copies)) co_return *bad;

  CaseRecord record = c->record;
  std::vector<MailboxId> old_mailboxes;
  for (const auto& o : record.offers)
    old_mailboxes.push_back(responder_mailbox(c->id, o.responder_id));
  const std::optional<CaseParty> old_holder = record.claimed_by;
  record.queue = route_it->queue;
  record.offers.clear();
  for (const auto& copy : copies) record.offers.push_back(copy.party);
  record.claimed_by.reset();
  record.handoff_queue.reset();
  record.routing->forced_queue = route_it->queue;
  UnixSeconds now = services_.clock.now();
  // It waits again: the waiting room's cap holds here too (a case still
  // waiting already has its place).
  RelayHub::PlaceHold place;
  if (old_holder) {
    place = services_.hub.hold_place(record.routing->envelope);
    if (!place) co_return room_full();
  }
  // In the same commit: the old mailboxes go (the old responder's access
  // ends), the new intake copies wait for whoever takes the case next.
  // The offer's reserved prekeys the copies were sealed to go in the commit.
  auto offer = services_.reservations.handoff_offer(c->id, route_it->queue, now);
  if (!offer || offer->token != route_it->offer_token)
    co_return perr(ErrorCode::kNotFound, "no handoff offer on this connection, or it expired");
  ExtraStorage move = [id = c->id, old_mailboxes, copies, now,
                       reserved = offer->reserved](Stores& s) -> Status {
    HEARTH_TRY(consume_prekeys(s, reserved, copies));
    for (const auto& m : old_mailboxes) HEARTH_TRY(s.envelopes.drop_mailbox(m));
    for (const auto& copy : copies) {
      auto seq = s.envelopes.put(responder_mailbox(id, copy.party.responder_id), copy.body, now);
      if (!seq.is_ok()) return seq.status();
    }
    return Status::ok();
  };
  auto failed = co_await update_case(*c, record, move);
  if (failed) co_return *failed;
  if (auto done = services_.reservations.take_handoff_offer(c->id, offer->token)) {
    services_.reservations.release(done->reserved);
    for (const auto& h : done->reserved) {
      if (std::any_of(copies.begin(), copies.end(),
                      [&](const Copy& cp) { return cp.party.responder_id == h.responder_id; }))
        services_.metrics.prekeys_consumed.fetch_add(1);
    }
  }
  drop_routes([&](const PendingRoute& r) { return r.id == c->id && r.handoff; });
  services_.metrics.messages_relayed.fetch_add(copies.size());
  // It waits in the new queue from before the reply, as a new case does.
  services_.hub.untrack_case(c->id);
  services_.hub.track_case(OpenCase{c->id, 0, c->opened_minute, record});
  FollowUps next;
  if (old_holder) {
    next.push_back(follow::TellResponder{
        old_holder->responder_id, follow::CaseClosed{c->id, protocol::CloseReason::kHandedOff}});
  }
  next.push_back(follow::RefreshWaitingRoom{});
  co_return Handled{ok(protocol::HandoffAcceptReply{}), std::move(next)};
}

// handoff_decline: survivor.
asio::awaitable<ClientState::Handled> ClientState::on_handoff_decline(
    const protocol::HandoffDeclineRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  if (!c->record.handoff_queue)
    co_return perr(ErrorCode::kNotFound, "no handoff is proposed for this case");
  CaseRecord record = c->record;
  record.handoff_queue.reset();
  ExtraStorage none;
  auto failed = co_await update_case(*c, record, none);
  if (failed) co_return *failed;
  drop_routes([&](const PendingRoute& r) { return r.id == c->id && r.handoff; });
  // The pending offer ends with the proposal: its prekeys go back.
  if (auto done = services_.reservations.take_handoff_offer(c->id, 0))
    services_.reservations.release(done->reserved);
  FollowUps next;
  if (record.claimed_by) {
    protocol::HandoffDeclinedEvent event{Bytes(c->id.bytes.begin(), c->id.bytes.end())};
    next.push_back(
        follow::TellResponder{record.claimed_by->responder_id, protocol::Event(std::move(event))});
  }
  co_return Handled{ok(protocol::HandoffDeclineReply{}), std::move(next)};
}

}  // namespace hearth::server

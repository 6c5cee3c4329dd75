// dismiss_waiting: a supervisor clears a flood of cases nobody ever took out
// of the waiting room (docs/protocol.md, docs/routing.md "The room's bounds").
//
// The cases leave the room first, under the hub's lock, so nobody can take
// one while the deletion commits; if the deletion fails they go back. A vault
// left with no case goes in the same storage job (host/retention.h).
//
// Thread safety: runs on the session's strand, as every handler.
#include <algorithm>
#include <string>
#include <vector>

#include "host/case_record.h"
#include "host/retention.h"
#include "server/client_state.h"
#include "server/handlers/handler_util.h"

namespace hearth::server {

namespace asio = boost::asio;
using protocol::ErrorCode;
using protocol::ProtocolError;

bool ClientState::is_supervisor() const {
  auto roster = services_.hub.roster();
  if (!roster) return false;
  auto queues = roster->verified.queues_of(certificate_hash_);
  return std::find(queues.begin(), queues.end(), handlers::kSupervisorQueue) != queues.end();
}

asio::awaitable<ClientState::Handled> ClientState::on_dismiss_waiting(
    const protocol::DismissWaitingRequest& req) {
  if (auto e = require_responder()) co_return *e;
  if (!is_supervisor()) co_return ProtocolError{ErrorCode::kForbidden, "supervisors only"};
  triage::DismissFilter filter;
  if (req.arrived_from) filter.arrived_from = *req.arrived_from;
  if (req.arrived_until) filter.arrived_until = *req.arrived_until;
  if (filter.arrived_from >= filter.arrived_until)
    co_return ProtocolError{ErrorCode::kBadField, "arrived_from: must be before arrived_until"};
  if (req.queue) {
    auto queues = services_.hub.rules().queues();
    if (std::find(queues.begin(), queues.end(), *req.queue) == queues.end())
      co_return ProtocolError{ErrorCode::kBadField, "queue: not a queue of the routing rules"};
    filter.queue = *req.queue;
  }
  filter.away_only = req.away_only;

  std::size_t remaining = 0;
  const std::vector<OpenCase> cases =
      services_.hub.withdraw_waiting(filter, protocol::kMaxDismissPerRequest, &remaining);
  struct Doomed {
    storage::CaseId id;
    std::vector<storage::MailboxId> mailboxes;
  };
  std::vector<Doomed> doomed;
  for (const auto& c : cases) {
    Doomed d{c.id, {survivor_mailbox(c.id)}};
    for (const auto& offer : c.record.offers)
      d.mailboxes.push_back(responder_mailbox(c.id, offer.responder_id));
    doomed.push_back(std::move(d));
  }
  const UnixSeconds now = services_.clock.now();
  auto remove = [doomed, by = responder_id_, remaining,
                 now](storage::Stores& s) -> Result<std::int64_t> {
    std::int64_t removed = 0;
    for (const auto& d : doomed) {
      auto row = s.cases.get(d.id);
      if (row.status().code() == Code::kNotFound) continue;  // the survivor deleted it meanwhile
      if (!row.is_ok()) return row.status();
      HEARTH_TRY(s.cases.remove(d.id));
      for (const auto& m : d.mailboxes) HEARTH_TRY(s.envelopes.drop_mailbox(m));
      ++removed;
    }
    // Their vaults, where that was the last case: nothing else can reach them.
    if (removed > 0) HEARTH_TRY(forget_caseless_vaults(s).status());
    // Counts and the supervisor's responder id only: nothing about a case
    // or a survivor (storage/audit_log.h).
    const std::string detail = "by " + by + ": dismissed " + std::to_string(removed) +
                               " waiting, " + std::to_string(remaining) + " more matching";
    HEARTH_TRY(s.audit.append("dismiss_waiting", detail, now).status());
    return removed;
  };
  auto removed = co_await write_job(remove);
  if (!removed.is_ok()) {
    for (const auto& c : cases) services_.hub.track_case(c);
    services_.hub.refresh();
    co_return storage_failure(removed.status());
  }
  std::vector<std::pair<storage::CaseId, Bytes>> closed;  // case, its vault's login key
  for (const auto& c : cases) {
    if (services_.hub.remove_case(c.id)) closed.emplace_back(c.id, c.record.vault_login_key);
  }
  log::logger().info("waiting_dismissed",
                     {{"count", *removed}, {"remaining", static_cast<std::int64_t>(remaining)}});
  FollowUps next;
  for (auto& [id, login_key] : closed) {
    next.push_back(follow::TellVault{std::move(login_key),
                                     follow::CaseClosed{id, protocol::CloseReason::kDeleted}});
  }
  next.push_back(follow::RefreshWaitingRoom{});
  co_return Handled{
      handlers::ok(protocol::DismissWaitingReply{*removed, static_cast<std::int64_t>(remaining)}),
      std::move(next)};
}

}  // namespace hearth::server

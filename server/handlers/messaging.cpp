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

// send: survivor (to the responder who claimed the case) or responder (to the
// survivor of a case they claimed).
asio::awaitable<ClientState::Handled> ClientState::on_send(const protocol::SendRequest& req) {
  if (role_ == Role::kAnonymous) co_return perr(ErrorCode::kNotAuthenticated, "log in first");
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  if (role_ == Role::kResponder && req.vault)
    co_return perr(ErrorCode::kForbidden, "vault: survivors only");
  // Whose the case is comes first: `closed` is for the case's own parties.
  auto c = services_.hub.get_case(*id);
  if (!c) co_return no_such_case();
  const bool mine =
      role_ == Role::kSurvivor
          ? c->record.vault_login_key == login_key_
          : c->record.claimed_by && c->record.claimed_by->responder_id == responder_id_;
  if (!mine) co_return no_such_case();
  if (c->record.closed) co_return perr(ErrorCode::kClosed, "the responder closed this case");

  MailboxId target;
  std::string to_responder;  // set when the recipient is a responder
  if (role_ == Role::kSurvivor) {
    if (!c->record.claimed_by)
      co_return perr(ErrorCode::kNotClaimed, "no responder has taken this case yet");
    to_responder = c->record.claimed_by->responder_id;
    target = responder_mailbox(*id, to_responder);
  } else {
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
    if (!row.is_ok()) {
      *verdict = expected_error(StorageStep::kSendCaseRow, row.status().code());
      return row.status();
    }
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
      if (!v.is_ok()) {
        *verdict = expected_error(StorageStep::kSendVaultWrite, v.status().code());
        return v.status();
      }
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
asio::awaitable<ClientState::Handled> ClientState::on_ack(const protocol::AckRequest& req) {
  if (role_ == Role::kAnonymous) co_return perr(ErrorCode::kNotAuthenticated, "log in first");
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c) co_return no_such_case();
  MailboxId mailbox;
  if (role_ == Role::kSurvivor) {
    if (c->record.vault_login_key != login_key_) co_return no_such_case();
    mailbox = survivor_mailbox(*id);
  } else {
    if (!c->record.claimed_by || c->record.claimed_by->responder_id != responder_id_)
      co_return no_such_case();
    mailbox = responder_mailbox(*id, responder_id_);
  }
  auto ack = [mailbox, seq = req.seq](Stores& s) { return s.envelopes.ack(mailbox, seq); };
  auto acked = co_await write_job(ack);
  if (!acked.is_ok()) co_return storage_failure(acked.status());
  co_return ok(protocol::AckReply{});
}

// delete_case: survivor, for a case of their vault.
asio::awaitable<ClientState::Handled> ClientState::on_delete_case(
    const protocol::DeleteCaseRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  auto id = case_id_of(req.case_id);
  if (!id.is_ok()) co_return perr(ErrorCode::kBadField, "case: wrong length");
  auto c = services_.hub.get_case(*id);
  if (!c || c->record.vault_login_key != login_key_) co_return no_such_case();
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
  services_.hub.untrack_case(*id);
  feed_.unwatch_case(*id);
  FollowUps next{follow::CasesChanged{}};
  if (removed) {
    const follow::CaseClosed deleted{*id, protocol::CloseReason::kDeleted};
    if (removed->record.claimed_by)
      next.push_back(follow::TellResponder{removed->record.claimed_by->responder_id, deleted});
    next.push_back(follow::TellVault{login_key_, deleted, /*skip_self=*/true});
    next.push_back(follow::RefreshWaitingRoom{});
  }
  co_return Handled{ok(protocol::DeleteCaseReply{}), std::move(next)};
}

}  // namespace hearth::server

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

Result<OpenCase> ClientState::own_case(const Bytes& req_id, ProtocolError* denied) const {
  auto id = case_id_of(req_id);
  if (!id.is_ok()) {
    *denied = perr(ErrorCode::kBadField, "case: wrong length");
    return id.status();
  }
  // Not there and not yours answer alike (no_such_case), and before `closed`.
  auto c = services_.hub.get_case(*id);
  const bool mine =
      c && (role_ == Role::kSurvivor
                ? c->record.vault_login_key == login_key_
                : c->record.claimed_by && c->record.claimed_by->responder_id == responder_id_);
  if (!mine) {
    *denied = no_such_case();
    return error(Code::kNotFound, "no such case");
  }
  if (c->record.closed) {
    *denied = perr(ErrorCode::kClosed, "the responder closed this case");
    return error(Code::kConflict, "closed");
  }
  return *c;
}

asio::awaitable<std::optional<ProtocolError>> ClientState::update_case(const OpenCase& c,
                                                                       const CaseRecord& record,
                                                                       const ExtraStorage& extra) {
  Verdict verdict = make_verdict();
  UnixSeconds now = services_.clock.now();
  auto update = [id = c.id, expected = c.version, fields = encode_case_record(record), extra, now,
                 verdict](Stores& s) -> Result<std::int64_t> {
    auto v = s.cases.update(id, expected, fields, now);
    if (!v.is_ok()) {
      *verdict = expected_error(StorageStep::kCaseUpdate, v.status().code());
      return v.status();
    }
    if (extra) HEARTH_TRY(extra(s));
    return v;
  };
  auto version = co_await write_job(update);
  if (!version.is_ok()) {
    if (verdict->has_value()) co_return **verdict;
    co_return storage_failure(version.status());
  }
  services_.hub.update_case(c.id, *version, record);
  co_return std::nullopt;
}

// close_case: responder, for a case they hold, with an outcome of the rules.
asio::awaitable<ClientState::Handled> ClientState::on_close_case(
    const protocol::CloseCaseRequest& req) {
  if (auto e = require_responder()) co_return *e;
  ProtocolError denied;
  auto c = own_case(req.case_id, &denied);
  if (!c.is_ok()) co_return denied;
  if (!services_.hub.rules().has_outcome(req.outcome))
    co_return perr(ErrorCode::kBadField, "outcome: not an outcome of the routing rules");
  UnixSeconds now = services_.clock.now();
  // What the case shrinks to: one count in a sealed aggregate cell.
  storage::CounterKey cell;
  cell.month = storage::month_of(now);
  cell.outcome = req.outcome;
  if (c->record.routing) {
    cell.need = std::string(protocol::need_name(c->record.routing->envelope.needs.front()));
    cell.language_group = c->record.routing->envelope.languages.front();
  } else {
    cell.need = "unknown";
    cell.language_group = "unknown";
  }
  CaseRecord record = c->record;
  record.closed = true;
  record.routing.reset();
  record.handoff_queue.reset();
  ExtraStorage close = [mailbox = responder_mailbox(c->id, responder_id_), cell](Stores& s) {
    HEARTH_TRY(s.envelopes.drop_mailbox(mailbox));
    return s.counters.increment(cell);
  };
  auto failed = co_await update_case(*c, record, close);
  if (failed) co_return *failed;
  services_.hub.untrack_case(c->id);
  feed_.unwatch_case(c->id);
  co_return Handled{ok(protocol::CloseCaseReply{}),
                    {follow::TellVault{record.vault_login_key,
                                       follow::CaseClosed{c->id, protocol::CloseReason::kClosed}},
                     follow::RefreshWaitingRoom{}}};
}

}  // namespace hearth::server

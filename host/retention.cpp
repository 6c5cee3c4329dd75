#include "host/retention.h"

namespace hearth::server {

Result<std::vector<storage::CaseId>> expire_closed_cases(storage::Stores& stores, UnixSeconds now,
                                                         UnixSeconds window) {
  HEARTH_ASSIGN_OR_RETURN(auto rows, stores.cases.list_open());
  std::vector<storage::CaseId> gone;
  for (const auto& row : rows) {
    auto record = decode_case_record(row.fields);
    if (!record.is_ok() || !record->closed || row.updated_minute > now - window) continue;
    HEARTH_TRY(stores.cases.remove(row.id));
    HEARTH_TRY(stores.envelopes.drop_mailbox(survivor_mailbox(row.id)));
    gone.push_back(row.id);
  }
  return gone;
}

Result<std::vector<storage::CaseId>> expire_parked_cases(storage::Stores& stores,
                                                         const std::vector<OpenCase>& parked,
                                                         UnixSeconds now, UnixSeconds window) {
  std::vector<storage::CaseId> gone;
  for (const auto& c : parked) {
    auto row = stores.cases.get(c.id);
    if (row.status().code() == Code::kNotFound) continue;  // deleted meanwhile
    if (!row.is_ok()) return row.status();
    auto record = decode_case_record(row->fields);
    // Taken, closed or written since: not a parked never-taken case any more.
    if (!record.is_ok() || record->closed || record->claimed_by ||
        row->updated_minute > now - window)
      continue;
    HEARTH_TRY(stores.cases.remove(c.id));
    HEARTH_TRY(stores.envelopes.drop_mailbox(survivor_mailbox(c.id)));
    for (const auto& offer : record->offers)
      HEARTH_TRY(stores.envelopes.drop_mailbox(responder_mailbox(c.id, offer.responder_id)));
    gone.push_back(c.id);
  }
  return gone;
}

Result<std::int64_t> forget_caseless_vaults(storage::Stores& stores) {
  const std::uint64_t damaged_before = stores.cases.damaged_rows();
  HEARTH_ASSIGN_OR_RETURN(auto rows, stores.cases.list_open());
  if (stores.cases.damaged_rows() != damaged_before) return std::int64_t{0};
  std::vector<Bytes> in_use;
  in_use.reserve(rows.size());
  for (const auto& row : rows) {
    auto record = decode_case_record(row.fields);
    if (!record.is_ok()) return std::int64_t{0};
    in_use.push_back(std::move(record->vault_login_key));
  }
  return stores.vaults.remove_all_but(in_use);
}

Result<SweepResult> sweep_cases(storage::Stores& stores, const std::vector<OpenCase>& parked,
                                UnixSeconds now, UnixSeconds closed_window,
                                UnixSeconds parked_window) {
  SweepResult out;
  HEARTH_ASSIGN_OR_RETURN(out.closed, expire_closed_cases(stores, now, closed_window));
  HEARTH_ASSIGN_OR_RETURN(out.parked, expire_parked_cases(stores, parked, now, parked_window));
  HEARTH_ASSIGN_OR_RETURN(out.vaults, forget_caseless_vaults(stores));
  return out;
}

}  // namespace hearth::server

#include "server/retention.h"

#include "server/case_record.h"

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

}  // namespace hearth::server

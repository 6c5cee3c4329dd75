// Retention: what hearthd forgets on its hourly sweep.
//
// A case its responder closed keeps a small sealed row (no routing fields)
// and the survivor's mailbox, so replies sent before the close still reach a
// survivor who comes back. If they do not come back within the window (the
// config's undelivered_retention_days, the same window undelivered messages
// get), the row and that mailbox are deleted.
//
// A case nobody ever took whose survivor stays away is parked (docs/routing.md).
// Once its survivor has been away retention.parked_case_days (as far as this
// run of hearthd saw them; after a restart, since the case arrived) and its row
// was not written in that time either, it is deleted with its mailboxes (the
// survivor's and the intake copies): nobody took it, and its intake copies
// expire with the undelivered window anyway. A survivor who comes back within
// the window brings the case back and the count starts again when they leave.
//
// A vault is created only with a case. Once it has no case left (the survivor
// deleted the last, a supervisor dismissed it, or retention expired it), it
// is deleted in the same storage job: nothing else can reach it, and only its
// owner could name it.
//
// Thread safety: runs on the storage thread (it takes the Stores).
#pragma once

#include <cstdint>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "host/case_record.h"
#include "storage/stores.h"
#include "storage/types.h"

namespace hearth::server {

// Deletes every closed case whose row was last written before now - window,
// with its survivor mailbox; returns their ids (for the in-memory index).
Result<std::vector<storage::CaseId>> expire_closed_cases(storage::Stores& stores, UnixSeconds now,
                                                         UnixSeconds window);

// Deletes those of `parked` (cases the hub withdrew as parked past the window)
// that are still never taken, open, and whose row was last written at or
// before now - window, with their survivor and responder mailboxes; returns
// the ids deleted. The others are left (the caller tracks them again).
Result<std::vector<storage::CaseId>> expire_parked_cases(storage::Stores& stores,
                                                         const std::vector<OpenCase>& parked,
                                                         UnixSeconds now, UnixSeconds window);

// Deletes every vault that no case row names (by login key); returns how
// many. When a case row fails to open or decode it does nothing (that row
// may be a vault's only case) and returns 0.
Result<std::int64_t> forget_caseless_vaults(storage::Stores& stores);

// The hourly sweep, one storage job: closed and parked cases past their
// windows, then vaults left with no case.
struct SweepResult {
  std::vector<storage::CaseId> closed;
  std::vector<storage::CaseId> parked;
  std::int64_t vaults = 0;
};
Result<SweepResult> sweep_cases(storage::Stores& stores, const std::vector<OpenCase>& parked,
                                UnixSeconds now, UnixSeconds closed_window,
                                UnixSeconds parked_window);

}  // namespace hearth::server

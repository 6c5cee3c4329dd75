// Retention of closed cases: what hearthd forgets on its hourly sweep.
//
// A case its responder closed keeps a small sealed row (no routing fields)
// and the survivor's mailbox, so replies sent before the close still reach a
// survivor who comes back. If they do not come back within the window (the
// config's undelivered_retention_days, the same window undelivered messages
// get), the row and that mailbox are deleted. The vault is left alone: it may
// hold other cases, and only its owner can name it.
//
// Thread safety: runs on the storage thread (it takes the Stores).
#pragma once

#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "storage/stores.h"
#include "storage/types.h"

namespace hearth::server {

// Deletes every closed case whose row was last written before now - window,
// with its survivor mailbox; returns their ids (for the in-memory index).
Result<std::vector<storage::CaseId>> expire_closed_cases(storage::Stores& stores, UnixSeconds now,
                                                         UnixSeconds window);

}  // namespace hearth::server

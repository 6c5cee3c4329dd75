// The protocol's closed names as log text. The logger takes compile-time text
// only (common/log.h), so each op's wire name is made LogText at compile time
// from the very table op_name() reads (names.cpp): the log and the wire cannot
// name an op differently, and a new op needs no second list.
//
// Thread safety: pure functions over constant tables.
#pragma once

#include "common/log.h"
#include "protocol/messages.h"

namespace hearth::protocol {

// The op's wire name ("take_next") as log text; "unknown" for a value that
// names no op.
log::LogText op_log_name(Op op);

}  // namespace hearth::protocol

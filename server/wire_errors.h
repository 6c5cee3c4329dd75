// Wire errors: the one table that turns a storage outcome (common/status.h's
// Code) into the error a client is answered with (protocol::ErrorCode).
//
// Storage answers with a Code; what that Code means to the client depends on
// what was being stored: kNotFound from a vault write is "the vault was
// deleted", from the case row it is "no such case". So the table is keyed by
// (StorageStep, Code). A pair the table lists is an expected outcome of the
// request; any other Code is the server's own failure: kLimitExceeded and
// kUnavailable (storage queue full, disk full, shutting down) answer
// "unavailable", anything else "internal" — those are logged, the expected
// ones are not.
//
// Thread safety: the lookups are pure and may run on any thread (storage jobs
// call expected_error() on the storage thread); storage_failure() logs.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "common/status.h"
#include "protocol/messages.h"

namespace hearth::server {

// What a storage job was doing when its Code came back.
enum class StorageStep {
  kVaultCreate,     // open_case with a new vault: vaults.create
  kVaultRead,       // vault_get, open_case's existing vault: vaults.get
  kVaultLoginRead,  // vault_login: vaults.get (absent answers like a bad signature)
  kVaultWrite,      // vault_put: vaults.put
  kSendVaultWrite,  // send with a vault update: vaults.put in the message's job
  kSendCaseRow,     // send: the case row, read again in the job
  kCaseUpdate,      // update_case: the case row's compare-and-swap
  kPrekeyUpload,    // upload_prekeys: prekeys.add_one_time_prekeys
  kCertificate,     // responder_login: the certificate against the roster
};

// One row of the table.
struct WireErrorRow {
  StorageStep step;
  Code status;
  protocol::ErrorCode code;
  std::string_view message;
};

// The whole table, for tests and docs: each (step, status) appears once.
std::span<const WireErrorRow> wire_error_table();

// The wire error for `status` at `step` when the table lists it, else nullopt
// (the caller then answers storage_failure()). Pure: any thread.
std::optional<protocol::ProtocolError> expected_error(StorageStep step, Code status);

// A storage failure nobody expected: "unavailable" (try again later) when
// storage is full, busy or shutting down, "internal" otherwise; logged.
protocol::ProtocolError storage_failure(const Status& status);

// expected_error() when the table lists it, else storage_failure().
protocol::ProtocolError wire_error(StorageStep step, const Status& status);

}  // namespace hearth::server

#include "server/wire_errors.h"

#include <array>

#include "common/log.h"

namespace hearth::server {

namespace {

using protocol::ErrorCode;

// The messages are what clients have always been answered: tests and client
// code match on the codes only, people read the text.
constexpr std::array kTable = {
    WireErrorRow{StorageStep::kVaultCreate, Code::kAlreadyExists, ErrorCode::kConflict,
                 "vault: this login id is taken"},
    // Only the key's holder gets here (open_case checks the key proof first):
    // no one learns of another's vault.
    WireErrorRow{StorageStep::kVaultCreate, Code::kConflict, ErrorCode::kConflict,
                 "vault: this login key has a vault; log into it"},
    WireErrorRow{StorageStep::kVaultCreate, Code::kInvalidArgument, ErrorCode::kBadField,
                 "vault: login id or blob out of range"},
    WireErrorRow{StorageStep::kVaultCreate, Code::kLimitExceeded, ErrorCode::kBadField,
                 "vault: login id or blob out of range"},
    WireErrorRow{StorageStep::kVaultRead, Code::kNotFound, ErrorCode::kNotFound,
                 "vault: it was deleted"},
    // No such vault answers like a bad signature: the reply must not say
    // whether a login id exists.
    WireErrorRow{StorageStep::kVaultLoginRead, Code::kNotFound, ErrorCode::kAuthFailed,
                 "vault login failed"},
    WireErrorRow{StorageStep::kVaultLoginRead, Code::kInvalidArgument, ErrorCode::kAuthFailed,
                 "vault login failed"},
    WireErrorRow{StorageStep::kVaultWrite, Code::kConflict, ErrorCode::kConflict,
                 "vault: the version moved on; get and merge"},
    WireErrorRow{StorageStep::kVaultWrite, Code::kNotFound, ErrorCode::kNotFound,
                 "vault: it was deleted"},
    WireErrorRow{StorageStep::kVaultWrite, Code::kLimitExceeded, ErrorCode::kBadField,
                 "blob: too large"},
    WireErrorRow{StorageStep::kSendVaultWrite, Code::kConflict, ErrorCode::kConflict,
                 "vault: the version moved on; get and merge"},
    WireErrorRow{StorageStep::kSendVaultWrite, Code::kNotFound, ErrorCode::kNotFound,
                 "vault: it was deleted"},
    WireErrorRow{StorageStep::kSendVaultWrite, Code::kLimitExceeded, ErrorCode::kBadField,
                 "vault.blob: too large"},
    // The one answer for a case that does not exist and one that is not the
    // caller's: no reply may tell whether someone else's case exists.
    WireErrorRow{StorageStep::kSendCaseRow, Code::kNotFound, ErrorCode::kNotFound, "no such case"},
    WireErrorRow{StorageStep::kCaseUpdate, Code::kConflict, ErrorCode::kConflict,
                 "the case changed meanwhile; try again"},
    WireErrorRow{StorageStep::kCaseUpdate, Code::kNotFound, ErrorCode::kNotFound, "no such case"},
    WireErrorRow{StorageStep::kPrekeyUpload, Code::kAlreadyExists, ErrorCode::kConflict,
                 "one_time_prekeys: an id is already stored"},
    WireErrorRow{StorageStep::kPrekeyUpload, Code::kLimitExceeded, ErrorCode::kLimitExceeded,
                 "one_time_prekeys: over the server's limit"},
    WireErrorRow{StorageStep::kCertificate, Code::kExpired, ErrorCode::kCertificateExpired,
                 "the certificate is outside its validity"},
    WireErrorRow{StorageStep::kCertificate, Code::kNotFound, ErrorCode::kNotOnRoster,
                 "this certificate is not on the current roster"},
    WireErrorRow{StorageStep::kCertificate, Code::kAuthFailed, ErrorCode::kAuthFailed,
                 "the certificate does not verify"},
};

}  // namespace

std::span<const WireErrorRow> wire_error_table() { return kTable; }

std::optional<protocol::ProtocolError> expected_error(StorageStep step, Code status) {
  for (const auto& row : kTable) {
    if (row.step == step && row.status == status)
      return protocol::ProtocolError{row.code, std::string(row.message)};
  }
  return std::nullopt;
}

protocol::ProtocolError storage_failure(const Status& status) {
  switch (status.code()) {
    case Code::kLimitExceeded:  // the storage queue is full
    case Code::kUnavailable:    // disk full, I/O error, shutting down
      log::logger().warn("storage_unavailable", {{"status", status}});
      return {ErrorCode::kUnavailable, "the server cannot store this now; try again later"};
    default:
      log::logger().error("storage_error", {{"status", status}});
      return {ErrorCode::kInternal, "internal error"};
  }
}

protocol::ProtocolError wire_error(StorageStep step, const Status& status) {
  if (auto e = expected_error(step, status.code())) return *e;
  return storage_failure(status);
}

}  // namespace hearth::server

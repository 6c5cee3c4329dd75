// The work behind hearth-admin's purge and stats export that needs more than
// the storage layer: purge runs hearthd's own retention rules (server/
// retention.h) on a stopped database; counters_csv turns statistics cells into
// the only export Hearth makes of them, with small cells suppressed.
//
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "storage/counter_store.h"

namespace hearth::admin {

// The smallest --min-cell accepted: a cell of 1 is one person.
inline constexpr std::int64_t kMinSuppressionThreshold = 2;
inline constexpr std::int64_t kDefaultSuppressionThreshold = 5;

// CSV of `cells`: a header line "month,need,outcome,language_group,count",
// then one line per cell in the order given; a count below `min_cell` is
// written as "<min_cell" (e.g. "<5"). No totals of any kind. kInvalidArgument
// when min_cell < kMinSuppressionThreshold; kCorrupt when a label is not a
// closed-vocabulary identifier ([a-z0-9_-], 1..32) or a month is not yyyymm —
// the store refuses both, so this only catches a damaged or foreign file, and
// nothing but identifiers and numbers can ever reach the export.
Result<std::string> counters_csv(const std::vector<storage::CounterCell>& cells,
                                 std::int64_t min_cell);

struct PurgeResult {
  std::int64_t envelopes = 0;      // undelivered envelopes deleted
  std::int64_t closed_cases = 0;   // closed cases deleted (with their survivor mailbox)
  std::int64_t vaults = 0;         // vaults left with no case, deleted
  std::uint64_t bytes_before = 0;  // database + WAL
  std::uint64_t bytes_after = 0;
};

// With hearthd stopped: deletes what its hourly sweep would delete at `now`
// with retention `window` (undelivered envelopes stored at least `window`
// ago; closed cases last written before now - window), appends an audit log
// entry "purge", all in one transaction; then VACUUM and
// wal_checkpoint(TRUNCATE), so freed pages leave the file and the WAL.
// kUnavailable "hearthd is running on this database; stop it first" when the
// lock is held; kInvalidArgument when not run as the database's owner
// (storage::check_owner); Storage::open's errors otherwise (kAuthFailed:
// wrong key).
Result<PurgeResult> purge_expired(const std::filesystem::path& database,
                                  const std::filesystem::path& key_file, UnixSeconds window,
                                  UnixSeconds now);

}  // namespace hearth::admin

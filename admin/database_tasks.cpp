#include "admin/database_tasks.h"

#include <string_view>
#include <system_error>

#include "host/retention.h"
#include "storage/backup.h"
#include "storage/storage.h"

namespace hearth::admin {
namespace {

namespace fs = std::filesystem;

bool is_label(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

std::uint64_t size_or_zero(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

std::uint64_t database_bytes(const fs::path& database) {
  return size_or_zero(database) + size_or_zero(database.string() + "-wal");
}

}  // namespace

Result<std::string> counters_csv(const std::vector<storage::CounterCell>& cells,
                                 std::int64_t min_cell) {
  if (min_cell < kMinSuppressionThreshold)
    return error(Code::kInvalidArgument, "the minimum cell size must be at least 2");
  const std::string suppressed = "<" + std::to_string(min_cell);
  std::string out = "month,need,outcome,language_group,count\n";
  for (const auto& cell : cells) {
    const auto& k = cell.key;
    if (k.month < 100001 || k.month > 999912 || k.month % 100 < 1 || k.month % 100 > 12 ||
        !is_label(k.need) || !is_label(k.outcome) || !is_label(k.language_group) || cell.count < 0)
      return error(Code::kCorrupt,
                   "a statistics cell is not in the expected form; nothing exported");
    out += std::to_string(k.month) + ',' + k.need + ',' + k.outcome + ',' + k.language_group + ',';
    out += cell.count < min_cell ? suppressed : std::to_string(cell.count);
    out += '\n';
  }
  return out;
}

Result<PurgeResult> purge_expired(const fs::path& database, const fs::path& key_file,
                                  UnixSeconds window, UnixSeconds now) {
  HEARTH_TRY(storage::check_owner(database));
  // Storage::open takes the same lock; asking first gives the clear message.
  { HEARTH_TRY(storage::lock_stopped_database(database).status()); }
  PurgeResult result;
  result.bytes_before = database_bytes(database);
  storage::StorageOptions options;
  options.database_path = database;
  options.key_path = key_file;
  options.create = false;
  HEARTH_ASSIGN_OR_RETURN(auto storage, storage::Storage::open(options));
  storage::Database& db = storage->db();
  storage::Stores& stores = storage->stores();

  HEARTH_TRY(db.begin());
  auto work = [&]() -> Status {
    HEARTH_ASSIGN_OR_RETURN(result.envelopes, stores.envelopes.expire_undelivered(now, window));
    HEARTH_ASSIGN_OR_RETURN(auto gone, server::expire_closed_cases(stores, now, window));
    result.closed_cases = static_cast<std::int64_t>(gone.size());
    HEARTH_ASSIGN_OR_RETURN(result.vaults, server::forget_caseless_vaults(stores));
    std::string detail = "retention " + std::to_string(window / 86400) +
                         " days: " + std::to_string(result.envelopes) + " undelivered envelopes, " +
                         std::to_string(result.closed_cases) + " closed cases deleted, " +
                         std::to_string(result.vaults) + " vaults with no case deleted";
    return stores.audit.append("purge", detail, now).status();
  };
  Status done = work();
  if (done.is_ok()) done = db.commit();
  if (!done.is_ok()) {
    db.rollback();
    return done;
  }
  // VACUUM rewrites the file without the freed pages (secure_delete already
  // zeroed them; VACUUM also gives the space back), then the TRUNCATE
  // checkpoint empties the WAL, whose frames still carried the old pages.
  HEARTH_TRY(db.exec("VACUUM"));
  HEARTH_TRY(db.checkpoint_truncate());
  storage.reset();
  result.bytes_after = database_bytes(database);
  return result;
}

}  // namespace hearth::admin

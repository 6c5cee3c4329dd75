// CounterStore: aggregate statistics, month × need × outcome × language group.
//
// This is what a closed case shrinks to. Even aggregates can single someone
// out in a small organisation ("the one case in March in that language"), so
// each cell is sealed at rest and found by a blind index of its key; someone
// with the file alone learns only how many distinct cells exist. Exports
// suppress small cells (the admin tool's job, not this store's).
//
// Labels are short lower-case identifiers from closed vocabularies (the
// triage layer's enums): [a-z0-9_-], 1..32 characters. Free text is refused.
//
// Thread safety: none; use from the thread that owns the Database.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "storage/database.h"
#include "storage/sealer.h"

namespace hearth::storage {

struct CounterKey {
  std::int32_t month = 0;  // yyyymm, e.g. 202611
  std::string need;
  std::string outcome;
  std::string language_group;

  friend bool operator==(const CounterKey&, const CounterKey&) = default;
};

struct CounterCell {
  CounterKey key;
  std::int64_t count = 0;
};

// The yyyymm month (UTC) of a Unix time.
std::int32_t month_of(UnixSeconds t);

class CounterStore {
 public:
  // Both must outlive the store.
  CounterStore(Database& db, const Sealer& sealer) : db_(db), sealer_(sealer) {}

  // Adds `by` (> 0) to the cell. kInvalidArgument on a bad month or label;
  // kLimitExceeded (and no change) when the count would pass INT64_MAX.
  Status increment(const CounterKey& key, std::int64_t by = 1);
  // Every cell, sorted by month, need, outcome, language group.
  Result<std::vector<CounterCell>> list();

 private:
  Database& db_;
  const Sealer& sealer_;
};

}  // namespace hearth::storage

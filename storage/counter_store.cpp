#include "storage/counter_store.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "storage/types.h"

namespace hearth::storage {
namespace {

constexpr std::string_view kTable = "counters";
constexpr std::size_t kMaxLabel = 32;

bool valid_label(const std::string& s) {
  if (s.empty() || s.size() > kMaxLabel) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

Status check_key(const CounterKey& key) {
  int month = key.month % 100;
  if (key.month < 197001 || key.month > 999912 || month < 1 || month > 12)
    return error(Code::kInvalidArgument, "counter month must be yyyymm");
  if (!valid_label(key.need) || !valid_label(key.outcome) || !valid_label(key.language_group))
    return error(Code::kInvalidArgument, "counter labels must be short identifiers");
  return Status::ok();
}

Bytes encode_key(const CounterKey& key) {
  Bytes out;
  append_u32_be(out, static_cast<std::uint32_t>(key.month));
  append_lp(out, as_bytes(key.need));
  append_lp(out, as_bytes(key.outcome));
  append_lp(out, as_bytes(key.language_group));
  return out;
}

// Parses lp-encoded fields written by encode_key; false on any inconsistency.
bool read_lp(ByteView b, std::size_t& offset, std::string& out) {
  if (b.size() - offset < 4) return false;
  std::uint32_t n = (std::uint32_t{b[offset]} << 24) | (std::uint32_t{b[offset + 1]} << 16) |
                    (std::uint32_t{b[offset + 2]} << 8) | std::uint32_t{b[offset + 3]};
  offset += 4;
  if (b.size() - offset < n) return false;
  out = to_string(b.subspan(offset, n));
  offset += n;
  return true;
}

Result<CounterCell> decode_cell(ByteView plain) {
  auto bad = error(Code::kCorrupt, "counters: sealed row is damaged");
  if (plain.size() < 4 + 8) return bad;
  CounterCell cell;
  cell.key.month =
      static_cast<std::int32_t>((std::uint32_t{plain[0]} << 24) | (std::uint32_t{plain[1]} << 16) |
                                (std::uint32_t{plain[2]} << 8) | plain[3]);
  std::size_t offset = 4;
  ByteView body = plain.first(plain.size() - 8);
  if (!read_lp(body, offset, cell.key.need) || !read_lp(body, offset, cell.key.outcome) ||
      !read_lp(body, offset, cell.key.language_group) || offset != body.size()) {
    return bad;
  }
  cell.count = static_cast<std::int64_t>(read_u64_be(plain, plain.size() - 8));
  return cell;
}

}  // namespace

std::int32_t month_of(UnixSeconds t) {
  // Civil-from-days (Howard Hinnant's algorithm), UTC.
  std::int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  days += 719468;
  std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  std::int64_t doe = days - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return static_cast<std::int32_t>(year * 100 + month);
}

Status CounterStore::increment(const CounterKey& key, std::int64_t by) {
  HEARTH_TRY(check_key(key));
  if (by <= 0) return error(Code::kInvalidArgument, "counter increment must be positive");
  Bytes encoded = encode_key(key);
  Bytes cell = sealer_.blind_index("counter", encoded);
  Savepoint sp(db_, "counter_inc");
  HEARTH_TRY(sp.status());
  std::int64_t count = 0;
  {
    HEARTH_ASSIGN_OR_RETURN(Statement select,
                            db_.cached("SELECT sealed FROM counters WHERE cell = ?1"));
    select.bind(1, cell);
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (row) {
      HEARTH_ASSIGN_OR_RETURN(Bytes plain, sealer_.open(kTable, cell, select.column_blob(0)));
      HEARTH_ASSIGN_OR_RETURN(CounterCell stored, decode_cell(plain));
      if (!(stored.key == key)) return error(Code::kCorrupt, "counters: sealed row is damaged");
      count = stored.count;
    }
  }
  // Checked before adding: signed overflow is undefined, and a wrapped
  // count would be sealed as if it were true.
  if (count > std::numeric_limits<std::int64_t>::max() - by)
    return error(Code::kLimitExceeded, "counter would overflow");
  Bytes plain = encoded;
  append_u64_be(plain, static_cast<std::uint64_t>(count + by));
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement upsert, db_.cached("INSERT INTO counters (cell, sealed) VALUES (?1, ?2) "
                                     "ON CONFLICT (cell) DO UPDATE SET sealed = excluded.sealed"));
    upsert.bind(1, cell).bind(2, sealer_.seal(kTable, cell, plain));
    HEARTH_TRY(upsert.run());
  }
  return sp.commit();
}

Result<std::vector<CounterCell>> CounterStore::list() {
  HEARTH_ASSIGN_OR_RETURN(Statement select, db_.cached("SELECT cell, sealed FROM counters"));
  std::vector<CounterCell> out;
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) break;
    Bytes cell = select.column_blob(0);
    HEARTH_ASSIGN_OR_RETURN(Bytes plain, sealer_.open(kTable, cell, select.column_blob(1)));
    HEARTH_ASSIGN_OR_RETURN(CounterCell decoded, decode_cell(plain));
    out.push_back(std::move(decoded));
  }
  std::sort(out.begin(), out.end(), [](const CounterCell& a, const CounterCell& b) {
    return std::tie(a.key.month, a.key.need, a.key.outcome, a.key.language_group) <
           std::tie(b.key.month, b.key.need, b.key.outcome, b.key.language_group);
  });
  return out;
}

}  // namespace hearth::storage

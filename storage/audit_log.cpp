#include "storage/audit_log.h"

#include <arpa/inet.h>

#include "crypto/secret.h"
#include "storage/types.h"

namespace hearth::storage {
namespace {

constexpr std::size_t kHashBytes = 32;

AuditEntry read_entry(const Statement& select) {
  return AuditEntry{select.column_int64(0), select.column_int64(1), select.column_text(2),
                    select.column_text(3), select.column_blob(4)};
}

// True when `text` contains a token that parses as an IPv4 or IPv6 address
// (with or without a port). Admin actions never need one, and Hearth stores
// no network address anywhere, so a caller that passes one has a bug.
bool mentions_network_address(std::string_view text) {
  auto is_separator = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == ',' || c == ';' || c == '(' || c == ')' ||
           c == '<' || c == '>' || c == '"' || c == '\'' || c == '=' || c == '/' || c == '@';
  };
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_separator(text[i])) ++i;
    std::size_t j = i;
    while (j < text.size() && !is_separator(text[j])) ++j;
    std::string token(text.substr(i, j - i));
    i = j;
    if (token.empty() || token.size() > 64) continue;
    if (token.front() == '[') {  // [v6]:port
      auto close = token.find(']');
      token = token.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    }
    unsigned char buf[16];
    if (::inet_pton(AF_INET6, token.c_str(), buf) == 1) return true;
    auto colon = token.find(':');
    std::string v4 = colon == std::string::npos ? token : token.substr(0, colon);
    if (::inet_pton(AF_INET, v4.c_str(), buf) == 1) return true;
  }
  return false;
}

}  // namespace

Bytes AuditLog::link(ByteView prev_hash, const AuditEntry& entry) const {
  Bytes encoded;
  append_u64_be(encoded, static_cast<std::uint64_t>(entry.seq));
  append_u64_be(encoded, static_cast<std::uint64_t>(entry.minute));
  append_lp(encoded, as_bytes(entry.action));
  append_lp(encoded, as_bytes(entry.detail));
  return sealer_.chain_hash(prev_hash, encoded);
}

Result<AuditEntry> AuditLog::append(std::string_view action, std::string_view detail,
                                    UnixSeconds now) {
  if (action.empty()) return error(Code::kInvalidArgument, "audit action is empty");
  if (action.size() > kMaxAuditTextBytes || detail.size() > kMaxAuditTextBytes)
    return error(Code::kLimitExceeded, "audit entry is larger than the limit");
  if (mentions_network_address(action) || mentions_network_address(detail))
    return error(Code::kInvalidArgument, "audit entries must not contain network addresses");
  Savepoint sp(db_, "audit_append");
  HEARTH_TRY(sp.status());
  AuditEntry entry{0, to_minute(now), std::string(action), std::string(detail), {}};
  Bytes prev(kHashBytes, 0);
  {
    HEARTH_ASSIGN_OR_RETURN(
        Statement last, db_.cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"));
    HEARTH_ASSIGN_OR_RETURN(bool row, last.step());
    if (row) {
      entry.seq = last.column_int64(0);
      prev = last.column_blob(1);
    }
  }
  entry.seq += 1;
  entry.hash = link(prev, entry);
  {
    HEARTH_ASSIGN_OR_RETURN(Statement insert,
                            db_.cached("INSERT INTO audit_log (seq, minute, action, detail, hash) "
                                       "VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert.bind(1, entry.seq).bind(2, entry.minute).bind_text(3, entry.action);
    insert.bind_text(4, entry.detail).bind(5, entry.hash);
    HEARTH_TRY(insert.run());
  }
  HEARTH_TRY(sp.commit());
  return entry;
}

Result<std::vector<AuditEntry>> AuditLog::entries(std::int64_t after_seq, std::size_t limit) {
  if (limit > kMaxFetch) return error(Code::kInvalidArgument, "audit_log: limit above kMaxFetch");
  HEARTH_ASSIGN_OR_RETURN(Statement select,
                          db_.cached("SELECT seq, minute, action, detail, hash FROM audit_log "
                                     "WHERE seq > ?1 ORDER BY seq LIMIT ?2"));
  select.bind(1, after_seq).bind(2, static_cast<std::int64_t>(limit));
  std::vector<AuditEntry> out;
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) break;
    out.push_back(read_entry(select));
  }
  return out;
}

Result<AuditHead> AuditLog::verify_chain() {
  HEARTH_ASSIGN_OR_RETURN(
      Statement select,
      db_.prepare("SELECT seq, minute, action, detail, hash FROM audit_log ORDER BY seq"));
  AuditHead head{0, Bytes(kHashBytes, 0)};
  while (true) {
    HEARTH_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) break;
    AuditEntry entry = read_entry(select);
    // Sequence numbers are dense from 1: a gap is a deleted entry.
    if (entry.seq != head.seq + 1 ||
        !crypto::constant_time_equal(link(head.hash, entry), entry.hash)) {
      return error(Code::kCorrupt, "audit log chain breaks at entry " + std::to_string(entry.seq));
    }
    head = AuditHead{entry.seq, entry.hash};
  }
  return head;
}

}  // namespace hearth::storage

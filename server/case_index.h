// CaseIndex: the open cases the server mirrors from the database, indexed by
// id and by vault (login key), and the open-case slots vaults reserve while
// an open_case commits — one of the four concerns behind RelayHub
// (server/relay_hub.h).
//
// The index by vault is exact: every case is under its record's login key,
// and no vault has an empty or stale entry, whatever path added, changed,
// moved or removed it (index_exact() checks this, for tests).
//
// Thread safety: none of its own: RelayHub's one mutex guards it (its member
// is GUARDED_BY the hub's mutex).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "host/case_record.h"
#include "storage/types.h"

namespace hearth::server {

class CaseIndex {
 public:
  // Puts `c` in (replacing a case of the same id, wherever it was indexed).
  void put(OpenCase c);
  // Takes case `id` out and returns it; nullopt when there is none.
  std::optional<OpenCase> erase(const storage::CaseId& id);
  // The case, or null. Valid until the next change.
  const OpenCase* find(const storage::CaseId& id) const;
  bool contains(const storage::CaseId& id) const { return cases_.contains(id); }
  // Replaces the case's record and version; re-indexes it if the record
  // names another vault. False (nothing changes) when there is no such case.
  bool update(const storage::CaseId& id, std::int64_t version, CaseRecord record);

  // The ids of the vault's cases (empty when none), from the index: no scan.
  // Valid until the next change.
  const std::set<storage::CaseId>& ids_of_vault(ByteView login_key) const;
  std::vector<OpenCase> of_vault(ByteView login_key) const;
  // Open cases `responder_id` holds (took and has not closed): a scan.
  std::vector<OpenCase> of_responder(std::string_view responder_id) const;
  std::size_t size() const { return cases_.size(); }
  bool index_exact() const;

  // Reserves one open-case slot for the vault: false when its open (not
  // closed) cases plus reservations reach `limit`. A case its responder
  // closed does not count. Each true is given back with release_slot().
  bool reserve_slot(ByteView login_key, std::size_t limit);
  void release_slot(ByteView login_key);

 private:
  std::map<storage::CaseId, OpenCase> cases_;
  std::map<Bytes, std::set<storage::CaseId>> by_vault_;  // by vault login key
  std::map<Bytes, std::size_t> reserved_slots_;          // by vault login key
};

}  // namespace hearth::server

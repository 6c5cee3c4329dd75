#include "server/case_index.h"

#include <utility>

namespace hearth::server {
namespace {

Bytes key_of(ByteView b) { return Bytes(b.begin(), b.end()); }

}  // namespace

void CaseIndex::put(OpenCase c) {
  storage::CaseId id = c.id;
  (void)erase(id);
  by_vault_[c.record.vault_login_key].insert(id);
  cases_.emplace(id, std::move(c));
}

std::optional<OpenCase> CaseIndex::erase(const storage::CaseId& id) {
  auto it = cases_.find(id);
  if (it == cases_.end()) return std::nullopt;
  OpenCase c = std::move(it->second);
  cases_.erase(it);
  if (auto v = by_vault_.find(c.record.vault_login_key); v != by_vault_.end()) {
    v->second.erase(id);
    if (v->second.empty()) by_vault_.erase(v);
  }
  return c;
}

const OpenCase* CaseIndex::find(const storage::CaseId& id) const {
  auto it = cases_.find(id);
  return it == cases_.end() ? nullptr : &it->second;
}

bool CaseIndex::update(const storage::CaseId& id, std::int64_t version, CaseRecord record) {
  auto it = cases_.find(id);
  if (it == cases_.end()) return false;
  if (it->second.record.vault_login_key != record.vault_login_key) {
    // Never on the server's paths (a case keeps its vault), but the index
    // must follow whatever the record says.
    OpenCase c = *erase(id);
    c.version = version;
    c.record = std::move(record);
    put(std::move(c));
    return true;
  }
  it->second.version = version;
  it->second.record = std::move(record);
  return true;
}

const std::set<storage::CaseId>& CaseIndex::ids_of_vault(ByteView login_key) const {
  static const std::set<storage::CaseId> none;
  auto it = by_vault_.find(key_of(login_key));
  return it == by_vault_.end() ? none : it->second;
}

std::vector<OpenCase> CaseIndex::of_vault(ByteView login_key) const {
  std::vector<OpenCase> out;
  for (const auto& id : ids_of_vault(login_key)) {
    if (const OpenCase* c = find(id)) out.push_back(*c);
  }
  return out;
}

std::vector<OpenCase> CaseIndex::of_responder(std::string_view responder_id) const {
  std::vector<OpenCase> out;
  for (const auto& [id, c] : cases_) {
    if (c.record.closed || !c.record.claimed_by) continue;
    if (c.record.claimed_by->responder_id == responder_id) out.push_back(c);
  }
  return out;
}

bool CaseIndex::index_exact() const {
  std::size_t indexed = 0;
  for (const auto& [key, ids] : by_vault_) {
    if (ids.empty()) return false;
    for (const auto& id : ids) {
      auto it = cases_.find(id);
      if (it == cases_.end() || it->second.record.vault_login_key != key) return false;
      ++indexed;
    }
  }
  return indexed == cases_.size();
}

bool CaseIndex::reserve_slot(ByteView login_key, std::size_t limit) {
  std::size_t open = 0;
  for (const auto& id : ids_of_vault(login_key)) {
    // A case its responder closed does not count: the survivor may open another.
    if (const OpenCase* c = find(id); c != nullptr && !c->record.closed) ++open;
  }
  Bytes key = key_of(login_key);
  std::size_t& reserved = reserved_slots_[key];
  if (open + reserved >= limit) {
    if (reserved == 0) reserved_slots_.erase(key);
    return false;
  }
  ++reserved;
  return true;
}

void CaseIndex::release_slot(ByteView login_key) {
  auto it = reserved_slots_.find(key_of(login_key));
  if (it == reserved_slots_.end()) return;
  if (--it->second == 0) reserved_slots_.erase(it);
}

}  // namespace hearth::server

// CaseIndex alone: the index by vault stays exact, and agrees with a plain
// model, through a long deterministic run of puts, updates (some moving a
// case to another vault, some closing it) and erases; slots count only the
// cases not closed.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

#include "server/case_index.h"

namespace hearth::server {
namespace {

TEST_CASE("case index: the index by vault stays exact through every kind of change", "[server]") {
  const std::vector<Bytes> vaults = {Bytes(32, 1), Bytes(32, 2), Bytes(32, 3), Bytes(32, 4)};
  std::vector<storage::CaseId> ids(24);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i].bytes[0] = static_cast<std::uint8_t>(i + 1);

  CaseIndex index;
  std::map<storage::CaseId, std::pair<std::size_t, bool>> model;  // id -> (vault, closed)
  std::mt19937 rng(14);                                           // fixed: the same run every time
  for (int step = 0; step < 3000; ++step) {
    const storage::CaseId& id = ids[rng() % ids.size()];
    const std::size_t vault = rng() % vaults.size();
    switch (rng() % 4) {
      case 0: {  // put (new, or replacing wherever it was)
        OpenCase c;
        c.id = id;
        c.version = 1;
        c.record.vault_login_key = vaults[vault];
        index.put(c);
        model[id] = {vault, false};
        break;
      }
      case 1: {  // update, maybe to another vault, maybe closed
        CaseRecord record;
        record.vault_login_key = vaults[vault];
        record.closed = rng() % 2 == 0;
        const bool known = model.contains(id);
        CHECK(index.update(id, step, record) == known);
        if (known) model[id] = {vault, record.closed};
        break;
      }
      case 2:
        CHECK(index.erase(id).has_value() == model.contains(id));
        model.erase(id);
        break;
      default: {  // a slot, given straight back
        std::size_t open = 0;
        for (const auto& [mid, m] : model) open += m.first == vault && !m.second;
        CHECK(index.reserve_slot(vaults[vault], open + 1));
        CHECK_FALSE(index.reserve_slot(vaults[vault], open + 1));
        index.release_slot(vaults[vault]);
        break;
      }
    }
    REQUIRE(index.index_exact());
    REQUIRE(index.size() == model.size());
  }
  for (std::size_t v = 0; v < vaults.size(); ++v) {
    std::set<storage::CaseId> expected;
    for (const auto& [id, m] : model)
      if (m.first == v) expected.insert(id);
    CHECK(index.ids_of_vault(vaults[v]) == expected);
    CHECK(index.of_vault(vaults[v]).size() == expected.size());
  }
}

}  // namespace
}  // namespace hearth::server

// FairShare: members (numbers, oldest = smallest) grouped by a key, with the
// group holding the most found in O(log n). Admission (server/admission.h)
// uses it to pick whom a full pool closes: per source, per vault.
//
// Thread safety: none; the owner locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace hearth::server {

template <typename Key>
class FairShare {
 public:
  void add(const Key& key, std::uint64_t member) {
    auto [it, fresh] = groups_.try_emplace(key);
    if (!fresh) rank_.erase(rank_of(it));
    it->second.insert(member);
    rank_.insert(rank_of(it));
  }
  void remove(const Key& key, std::uint64_t member) {
    auto it = groups_.find(key);
    if (it == groups_.end() || !it->second.contains(member)) return;
    rank_.erase(rank_of(it));
    it->second.erase(member);
    if (it->second.empty()) {
      groups_.erase(it);
    } else {
      rank_.insert(rank_of(it));
    }
  }
  std::size_t count(const Key& key) const {
    auto it = groups_.find(key);
    return it == groups_.end() ? 0 : it->second.size();
  }
  // The smallest (oldest) member of `key`'s group.
  std::optional<std::uint64_t> oldest(const Key& key) const {
    auto it = groups_.find(key);
    if (it == groups_.end()) return std::nullopt;
    return *it->second.begin();
  }
  // The group holding the most members; of those, the one whose oldest
  // member is oldest. Null when there is none.
  const Key* top() const { return rank_.empty() ? nullptr : std::get<2>(*rank_.begin()); }
  std::size_t size() const { return groups_.size(); }

 private:
  using Groups = std::map<Key, std::set<std::uint64_t>>;
  // (count, oldest, key): most first, then oldest first.
  using Rank = std::tuple<std::size_t, std::uint64_t, const Key*>;
  struct Order {
    bool operator()(const Rank& a, const Rank& b) const {
      if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) > std::get<0>(b);
      if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
      return std::less<const Key*>()(std::get<2>(a), std::get<2>(b));
    }
  };
  static Rank rank_of(typename Groups::const_iterator it) {
    return {it->second.size(), *it->second.begin(), &it->first};
  }
  Groups groups_;
  std::set<Rank, Order> rank_;
};

}  // namespace hearth::server

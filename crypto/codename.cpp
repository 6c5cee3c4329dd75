#include "crypto/codename.h"

#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>

#include "crypto/random.h"

namespace hearth::crypto {
namespace internal {
// Generated at build time from the EFF large word list (crypto/embed_wordlist.cmake).
extern const std::array<std::string_view, 7776> kWordlist;
}  // namespace internal

namespace {

static_assert(kWordlistSize == 7776);

// No list word is longer than this; a longer token cannot match and is never
// copied, so parse() needs no allocation for what the user typed.
constexpr std::size_t kMaxTypedWordChars = 16;

using WordIndices = std::array<std::uint16_t, kCodenameWords>;

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// List indices ordered by their word, built once: parse() looks words up by
// binary search without assuming the embedded list is sorted.
const std::array<std::uint16_t, kWordlistSize>& words_in_order() {
  static const std::array<std::uint16_t, kWordlistSize> order = [] {
    std::array<std::uint16_t, kWordlistSize> o{};
    std::iota(o.begin(), o.end(), std::uint16_t{0});
    std::sort(o.begin(), o.end(), [](std::uint16_t a, std::uint16_t b) {
      return internal::kWordlist[a] < internal::kWordlist[b];
    });
    return o;
  }();
  return order;
}

// The list index of `word` (already lower-case), or -1 when it is not a list word.
int find_word(std::string_view word) {
  const auto& order = words_in_order();
  auto it = std::lower_bound(
      order.begin(), order.end(), word,
      [](std::uint16_t index, std::string_view w) { return internal::kWordlist[index] < w; });
  if (it == order.end() || internal::kWordlist[*it] != word) return -1;
  return *it;
}

// The normalized text for `indices`: list words joined by single spaces.
SecretBytes join_words(const WordIndices& indices) {
  std::size_t length = kCodenameWords - 1;  // the separating spaces
  for (std::uint16_t i : indices) length += internal::kWordlist[i].size();
  SecretBytes text(length);
  std::size_t at = 0;
  for (std::size_t w = 0; w < kCodenameWords; ++w) {
    if (w > 0) text.data()[at++] = static_cast<std::uint8_t>(' ');
    for (char c : internal::kWordlist[indices[w]]) text.data()[at++] = static_cast<std::uint8_t>(c);
  }
  return text;
}

}  // namespace

std::string_view codename_word(std::size_t index) {
  if (index >= kWordlistSize) std::abort();  // documented precondition
  return internal::kWordlist[index];
}

Codename Codename::draw() {
  WordIndices indices{};
  for (auto& index : indices) index = static_cast<std::uint16_t>(random_uniform(kWordlistSize));
  Codename drawn(join_words(indices));
  sodium_memzero(indices.data(), sizeof indices);  // the picks are the secret
  return drawn;
}

Result<Codename> Codename::parse(std::string_view typed) {
  // Split on runs of ASCII whitespace; remember at most kCodenameWords tokens
  // but count them all, so the error can say how many were typed.
  std::array<std::string_view, kCodenameWords> tokens{};
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < typed.size()) {
    while (pos < typed.size() && is_ascii_space(typed[pos])) ++pos;
    if (pos == typed.size()) break;
    std::size_t end = pos;
    while (end < typed.size() && !is_ascii_space(typed[end])) ++end;
    if (count < kCodenameWords) tokens[count] = typed.substr(pos, end - pos);
    ++count;
    pos = end;
  }
  if (count == 0) return error(Code::kInvalidArgument, "codename is empty");
  if (count != kCodenameWords) {
    return error(Code::kInvalidArgument, "codename must be exactly " +
                                             std::to_string(kCodenameWords) + " words, got " +
                                             std::to_string(count));
  }

  WordIndices indices{};
  std::array<char, kMaxTypedWordChars> lowered{};
  int missing = -1;  // position of the first word not in the list
  for (std::size_t w = 0; w < kCodenameWords && missing < 0; ++w) {
    std::string_view token = tokens[w];
    int index = -1;
    if (token.size() <= lowered.size()) {
      std::transform(token.begin(), token.end(), lowered.begin(), ascii_lower);
      index = find_word(std::string_view(lowered.data(), token.size()));
    }
    if (index < 0) {
      missing = static_cast<int>(w);
    } else {
      indices[w] = static_cast<std::uint16_t>(index);
    }
  }
  sodium_memzero(lowered.data(), lowered.size());
  if (missing >= 0) {
    sodium_memzero(indices.data(), sizeof indices);
    // Name the position only: the word itself may be most of a real codename.
    return error(Code::kInvalidArgument,
                 "codename word " + std::to_string(missing + 1) + " is not in the word list");
  }
  Codename parsed(join_words(indices));
  sodium_memzero(indices.data(), sizeof indices);
  return parsed;
}

std::array<std::string_view, kCodenameWords> Codename::words() const {
  std::array<std::string_view, kCodenameWords> out{};
  const char* text = reinterpret_cast<const char*>(normalized_.data());
  std::size_t start = 0;
  std::size_t w = 0;
  for (std::size_t i = 0; i <= normalized_.size() && w < kCodenameWords; ++i) {
    if (i == normalized_.size() || text[i] == ' ') {
      out[w++] = std::string_view(text + start, i - start);
      start = i + 1;
    }
  }
  return out;
}

}  // namespace hearth::crypto

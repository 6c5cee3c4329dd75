// Codename: the survivor's 7-word secret, drawn from the EFF large word list.
//
// A codename is the only thing a survivor keeps; everything else (vault keys,
// login key) is derived from it (reference/crypto.md §2.6). It is always drawn
// by draw(), 7 independent uniform picks from 7 776 words (≈90.5 bits), and is
// never chosen by a person: the only other way to obtain a Codename is parse(),
// which accepts nothing but exactly 7 words from the same list. A survivor can
// therefore retype a codename they were given but cannot make up a weak one
// (reference/crypto.md P12). There is deliberately no constructor from an
// arbitrary string.
//
// The text is held in its normalized form: lowercase ASCII list words joined by
// single spaces ("abacus zoom ..."), in SecretBytes (locked, wiped on free).
// Those exact bytes are the Argon2id password; docs/crypto.md specifies the
// normalization so the browser client derives the same keys.
//
// Thread safety: a move-only value; const methods are safe from several threads.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret.h"

namespace hearth::crypto {

inline constexpr std::size_t kCodenameWords = 7;
inline constexpr std::size_t kWordlistSize = 7776;

// The word at `index` (0-based, in the list's dice order: 0 = "abacus",
// 7775 = "zoom"). Precondition: index < kWordlistSize; a larger index is a
// programming error and aborts.
std::string_view codename_word(std::size_t index);

class Codename {
 public:
  // A fresh codename: kCodenameWords words, each codename_word(random_uniform(7776)),
  // drawn through crypto/random.h (so a seeded test source reproduces it).
  static Codename draw();

  // What a returning survivor typed, normalized: ASCII letters are lower-cased,
  // runs of ASCII whitespace (space, tab, CR, LF, VT, FF) separate words, and
  // leading and trailing whitespace is ignored. Nothing else is changed: any other
  // byte (punctuation other than the list's own hyphens, non-ASCII letters,
  // non-breaking spaces) makes the word fail to match.
  // kInvalidArgument when the input is empty, does not hold exactly
  // kCodenameWords words, or a word is not in the list; the message names the
  // word's position, never the word. Does not keep or copy `typed` beyond the
  // normalized result; the caller wipes its own buffer.
  static Result<Codename> parse(std::string_view typed);

  Codename(Codename&&) noexcept = default;
  Codename& operator=(Codename&&) noexcept = default;
  Codename(const Codename&) = delete;
  Codename& operator=(const Codename&) = delete;
  ~Codename() = default;

  // The words, in order, for showing to the survivor once. The views point into
  // this object's locked storage: valid while this Codename (or the one it is
  // moved into) lives. Do not copy them into ordinary strings.
  std::array<std::string_view, kCodenameWords> words() const;

  // The normalized text as bytes ("word word ... word"): the Argon2id password.
  // Same lifetime as words().
  ByteView normalized() const { return normalized_.view(); }

 private:
  explicit Codename(SecretBytes normalized) : normalized_(std::move(normalized)) {}

  SecretBytes normalized_;
};

}  // namespace hearth::crypto

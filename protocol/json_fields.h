// Reading the JSON files an admin writes (hearthd's config, routing rules,
// simulation scenarios, the org's directory and its state file): parsing
// without exceptions and the field checks every loader shares, each refusal
// naming the field ("limits.max_frame_bytes: unknown field") so a mistake can
// be found and fixed. Loaders keep their own typed readers (integers in a
// range, names, lists); what is here is what they had each copied.
//
// nlohmann/json stays out of common/: only the protocol codec and these
// loaders may include it (scripts/check_layers.py), and each loader's library
// links it privately.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hearth::json_fields {

// Parses `text` without exceptions. kInvalidArgument "<file>: not valid JSON"
// when it does not parse (any JSON value is returned, not only an object).
Result<nlohmann::json> parse(std::string_view text, std::string_view file);

// kInvalidArgument "<field>: <what>".
Status field_error(std::string_view field, std::string_view what);

// The name of `key` inside `parent`: "parent.key", or "key" when `parent` is
// "" (the file's top level, whose fields are named bare).
std::string join(std::string_view parent, std::string_view key);

// The name of element `i` of the list `field`: "field[i]".
std::string at(std::string_view field, std::size_t i);

// Ok when `j` is an object whose every field is in `allowed` (a misspelt field
// must not silently leave a default in place) and which has every field in
// `required`. Otherwise kInvalidArgument, checked in this order:
// "<path>: must be an object", "<path>.<field>: unknown field",
// "<path>.<field>: missing" (fields named by join(path, field)). Callers check
// the top level's type themselves, with the file's name.
Status check_object(const nlohmann::json& j, std::string_view path,
                    std::initializer_list<std::string_view> allowed,
                    std::initializer_list<std::string_view> required = {});

// A two-letter lower-case language code (ISO 639-1 shape: "en", "uk").
bool is_language(std::string_view s);

}  // namespace hearth::json_fields

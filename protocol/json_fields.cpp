#include "protocol/json_fields.h"

#include <algorithm>

namespace hearth::json_fields {

Result<nlohmann::json> parse(std::string_view text, std::string_view file) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return field_error(file, "not valid JSON");
  return j;
}

Status field_error(std::string_view field, std::string_view what) {
  return error(Code::kInvalidArgument, std::string(field) + ": " + std::string(what));
}

std::string join(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

std::string at(std::string_view field, std::size_t i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

Status check_object(const nlohmann::json& j, std::string_view path,
                    std::initializer_list<std::string_view> allowed,
                    std::initializer_list<std::string_view> required) {
  if (!j.is_object()) return field_error(path.empty() ? "top level" : path, "must be an object");
  for (const auto& item : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end())
      return field_error(join(path, item.key()), "unknown field");
  }
  for (std::string_view r : required) {
    if (!j.contains(r)) return field_error(join(path, r), "missing");
  }
  return Status::ok();
}

bool is_language(std::string_view s) {
  return s.size() == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z';
}

}  // namespace hearth::json_fields

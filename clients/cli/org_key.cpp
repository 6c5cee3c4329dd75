#include "clients/cli/org_key.h"

#include <fstream>
#include <sstream>
#include <string>

namespace hearth::cli {

Result<crypto::SigningPublicKey> parse_org_root(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return error(Code::kInvalidArgument, "the org root key is empty");
  text = text.substr(first, last - first + 1);
  auto bytes = from_hex(text);
  if (text.size() != 2 * crypto::kPublicKeyBytes || !bytes)
    return error(Code::kInvalidArgument, "the org root key must be 64 hex digits");
  return crypto::SigningPublicKey::from(*bytes);
}

Result<crypto::SigningPublicKey> load_org_root(const std::string& value) {
  if (auto direct = parse_org_root(value); direct.is_ok()) return direct;
  std::ifstream in(value);
  if (!in)
    return error(Code::kInvalidArgument, "--org-root is neither 64 hex digits nor a readable file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_org_root(text.str());
}

}  // namespace hearth::cli

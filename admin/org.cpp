#include "admin/org.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

#include "clients/cli/terminal.h"
#include "common/files.h"
#include "crypto/encoding.h"
#include "crypto/sodium_init.h"
#include "storage/storage.h"
#include "triage/rules.h"

namespace hearth::admin {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr int kStateFormat = 1;
constexpr std::size_t kMaxStateBytes = 64u * 1024 * 1024;
constexpr std::size_t kMaxKeyFileBytes = 1024;
constexpr std::size_t kMaxRosterBytes = 16u * 1024 * 1024;
// Certificates and rosters start a minute back, so a client whose clock is a
// little slow does not see them as "not yet valid".
constexpr UnixSeconds kBackdate = 60;

Status write_text(const fs::path& path, const std::string& text,
                  Overwrite overwrite = Overwrite::kRefuse) {
  return write_private_file(path, as_bytes(text), overwrite);
}

// A key file is the 32-byte seed in hex and a newline; the hex is wiped.
Status write_key(const fs::path& path, const crypto::SigningKey& key) {
  crypto::SecretBytes seed = key.seed();
  std::string hex = to_hex(seed.view()) + "\n";
  Status s = write_text(path, hex);
  crypto::wipe(MutableByteView(reinterpret_cast<std::uint8_t*>(hex.data()), hex.size()));
  return s;
}

std::string file_status(const fs::path& path, const Status& s) {
  return path.filename().string() + ": " + s.message();
}

bool has_duplicates(std::vector<std::string> list) {
  std::sort(list.begin(), list.end());
  return std::adjacent_find(list.begin(), list.end()) != list.end();
}

Result<crypto::ResponderCertificate> decode_certificate(const OrgResponder& r) {
  return crypto::ResponderCertificate::decode(r.certificate);
}

}  // namespace

std::string utc_time(UnixSeconds t) { return cli::utc_time(t); }

Bytes OrgResponder::hash() const {
  auto cert = crypto::ResponderCertificate::decode(certificate);
  return cert.is_ok() ? cert->hash() : Bytes();
}

const OrgResponder* OrgState::active(std::string_view id) const {
  for (const OrgResponder& r : responders) {
    if (r.id == id && !r.revoked_at) return &r;
  }
  return nullptr;
}

// --- org.json ---

std::string OrgState::to_json() const {
  json j;
  j["format"] = kStateFormat;
  j["name"] = name;
  j["org_root"] = to_hex(org_root.view());
  j["next_serial"] = next_serial;
  j["roster"] = {{"epoch", roster_epoch},
                 {"hash", to_hex(roster_hash)},
                 {"issued_at", roster_issued_at},
                 {"expires_at", roster_expires_at}};
  json list = json::array();
  for (const OrgResponder& r : responders) {
    json e = {{"id", r.id},
              {"serial", r.serial},
              {"queues", r.queues},
              {"languages", r.languages},
              {"enrolled_at", r.enrolled_at},
              {"not_after", r.not_after},
              {"revoked_at", r.revoked_at ? json(*r.revoked_at) : json(nullptr)},
              {"certificate", crypto::base64url_encode(r.certificate)}};
    list.push_back(std::move(e));
  }
  j["responders"] = std::move(list);
  return j.dump(2) + "\n";
}

Result<OrgState> OrgState::from_json(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  auto bad = [](const std::string& what) {
    return error(Code::kCorrupt, "org.json: " + what + " (the file was edited or damaged)");
  };
  if (!j.is_object()) return bad("not a JSON object");
  if (j.value("format", 0) != kStateFormat) return bad("unknown format");
  OrgState s;
  try {
    s.name = j.at("name").get<std::string>();
    auto root = from_hex(j.at("org_root").get<std::string>());
    if (!root) return bad("org_root is not hex");
    auto root_key = crypto::SigningPublicKey::from(*root);
    if (!root_key.is_ok()) return bad("org_root has the wrong length");
    s.org_root = *root_key;
    s.next_serial = j.at("next_serial").get<std::uint64_t>();
    const json& r = j.at("roster");
    s.roster_epoch = r.at("epoch").get<std::uint64_t>();
    auto hash = from_hex(r.at("hash").get<std::string>());
    if (!hash || hash->size() != crypto::kHashBytes) return bad("roster.hash");
    s.roster_hash = *hash;
    s.roster_issued_at = r.at("issued_at").get<UnixSeconds>();
    s.roster_expires_at = r.at("expires_at").get<UnixSeconds>();
    for (const json& e : j.at("responders")) {
      OrgResponder o;
      o.id = e.at("id").get<std::string>();
      o.serial = e.at("serial").get<std::uint64_t>();
      o.queues = e.at("queues").get<std::vector<std::string>>();
      o.languages = e.at("languages").get<std::vector<std::string>>();
      o.enrolled_at = e.at("enrolled_at").get<UnixSeconds>();
      o.not_after = e.at("not_after").get<UnixSeconds>();
      if (!e.at("revoked_at").is_null()) o.revoked_at = e.at("revoked_at").get<UnixSeconds>();
      auto cert = crypto::base64url_decode(e.at("certificate").get<std::string>());
      if (!cert.is_ok()) return bad("a certificate is not base64url");
      o.certificate = std::move(cert).value();
      auto decoded = crypto::ResponderCertificate::decode(o.certificate);
      if (!decoded.is_ok() || decoded->fields.responder_id != o.id)
        return bad("the certificate of \"" + o.id + "\" does not decode or names someone else");
      s.responders.push_back(std::move(o));
    }
  } catch (const json::exception& e) {
    // The file is the tool's own, but an admin may have edited it by hand.
    return bad(std::string("missing or mistyped field: ") + e.what());
  }
  return s;
}

// --- Config ---

std::string hearthd_config_json(const InitOptions& o, const std::string& org_root_hex) {
  json j;
  // Relative paths resolve against the config's own folder: the server/
  // folder can be copied anywhere whole.
  j["data_dir"] = "data";
  j["org_root_key"] = org_root_hex;
  j["roster_file"] = "roster.bin";
  j["rules_file"] = "routing.json";
  j["listen"] = {{"address", o.address}, {"port", o.port}};
  j["metrics"] = {{"address", "127.0.0.1"}, {"port", o.metrics_port}};
  j["pow"] = {{"effort", o.pow_effort}};
  if (o.web_root) j["web"] = {{"root", *o.web_root}};
  return j.dump(2) + "\n";
}

// --- Org ---

Status Org::make_org_files(const Org& org, const InitOptions& options, UnixSeconds now) {
  for (const fs::path& sub : {org.org_dir(), org.server_dir(), org.server_dir() / "data"})
    HEARTH_TRY(make_private_directory(sub));

  // The org root certifies the roster key; only the roster key is used day to day.
  crypto::SigningKey root = crypto::SigningKey::generate();
  crypto::SigningKey roster_key = crypto::SigningKey::generate();
  crypto::RosterKeyCertificate rkc = crypto::certify_roster_key(
      root, roster_key.public_key(), now - kBackdate, now + kRosterKeyLifetime);
  const std::string root_hex = to_hex(root.public_key().view());
  HEARTH_TRY(write_key(org.org_dir() / "root.key", root));
  HEARTH_TRY(write_key(org.org_dir() / "roster.key", roster_key));
  HEARTH_TRY(
      write_private_file(org.org_dir() / "roster-key.cert", rkc.encode(), Overwrite::kRefuse));
  HEARTH_TRY(write_text(org.org_dir() / "root.pub", root_hex + "\n"));

  HEARTH_TRY(
      write_text(org.server_dir() / "routing.json", std::string(triage::default_rules_json())));
  HEARTH_TRY(write_text(org.server_dir() / "hearthd.json", hearthd_config_json(options, root_hex)));
  // An empty database and its master key, as hearthd's first start would make
  // them: the server host receives them ready (storage/storage.h).
  {
    storage::StorageOptions so;
    so.database_path = org.server_dir() / "data" / "hearth.db";
    so.key_path = org.server_dir() / "data" / "master.key";
    so.create = true;
    auto opened = storage::Storage::open(so);
    if (!opened.is_ok())
      return error(opened.status().code(), "database: " + opened.status().message());
  }

  OrgState state;
  state.name = options.name;
  state.org_root = root.public_key();
  HEARTH_TRY(write_text(org.org_dir() / "org.json", state.to_json()));
  return Status::ok();
}

Result<Org> Org::init(const fs::path& dir, const InitOptions& options, UnixSeconds now) {
  crypto::ensure_initialized();
  Org org(dir);
  std::error_code ec;
  if (fs::exists(org.org_dir(), ec) || fs::exists(org.server_dir(), ec))
    return error(Code::kAlreadyExists,
                 "an organisation is already there (" + (dir / "org").string() +
                     " or server/ exists); nothing was changed. Choose another directory.");
  if (options.port < 0 || options.port > 65535 || options.metrics_port < 0 ||
      options.metrics_port > 65535)
    return error(Code::kInvalidArgument, "ports must be 0..65535");
  unsigned char addr[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, options.address.c_str(), addr) != 1 &&
      ::inet_pton(AF_INET6, options.address.c_str(), addr) != 1)
    return error(Code::kInvalidArgument,
                 "--address must be an IP address such as 127.0.0.1 or 0.0.0.0");
  if (options.name.empty() || options.name.size() > 200)
    return error(Code::kInvalidArgument, "the org name must be 1-200 characters");
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return error(Code::kUnavailable, "cannot create " + dir.string());
  }
  // Either the whole org is made or nothing is left behind, so a failed init
  // (a full disk) can simply be run again.
  Status made = make_org_files(org, options, now);
  if (!made.is_ok()) {
    fs::remove_all(org.org_dir(), ec);
    fs::remove_all(org.server_dir(), ec);
    return made;
  }
  return org;
}

Result<OrgState> Org::load() const {
  auto bytes = read_private_file(org_dir() / "org.json", kMaxStateBytes);
  if (!bytes.is_ok()) {
    if (bytes.status().code() == Code::kNotFound)
      return error(Code::kNotFound, "no organisation in " + dir_.string() +
                                        " (no org/org.json; create one with `hearth-admin init " +
                                        dir_.string() + "`)");
    return error(bytes.status().code(), "org/org.json: " + bytes.status().message());
  }
  return OrgState::from_json(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
}

Status Org::save(const OrgState& state) const {
  return write_text(org_dir() / "org.json", state.to_json(), Overwrite::kAllow);
}

Result<crypto::SigningPublicKey> Org::root_public_key() const {
  HEARTH_ASSIGN_OR_RETURN(OrgState state, load());
  return state.org_root;
}

Result<std::optional<crypto::SignedRoster>> Org::last_roster() const {
  auto file = read_private_file(org_dir() / "roster.bin", kMaxRosterBytes);
  if (!file.is_ok()) {
    if (file.status().code() == Code::kNotFound) return std::optional<crypto::SignedRoster>();
    return error(file.status().code(), "org/roster.bin: " + file.status().message());
  }
  HEARTH_ASSIGN_OR_RETURN(crypto::SignedRoster roster, crypto::SignedRoster::decode(*file));
  return std::optional<crypto::SignedRoster>(std::move(roster));
}

Result<crypto::SigningKey> Org::read_key(const std::string& name) const {
  const fs::path path = org_dir() / name;
  auto file = read_private_file(path, kMaxKeyFileBytes);
  if (!file.is_ok()) return error(file.status().code(), file_status(path, file.status()));
  // Move the hex into locked memory at once and wipe every other copy.
  crypto::SecretBytes text = crypto::SecretBytes::from(*file);
  crypto::wipe(*file);
  std::string_view hex(reinterpret_cast<const char*>(text.data()), text.size());
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' '))
    hex.remove_suffix(1);
  auto seed = from_hex(hex);
  if (!seed || seed->size() != crypto::kSeedBytes) {
    if (seed) crypto::wipe(*seed);
    return error(Code::kCorrupt, name + ": not a key file (64 hex digits expected)");
  }
  auto key = crypto::SigningKey::from_seed(*seed);
  crypto::wipe(*seed);
  return key;
}

Result<crypto::RosterKeyCertificate> Org::roster_key_certificate() const {
  auto file = read_private_file(org_dir() / "roster-key.cert", 4096);
  if (!file.is_ok())
    return error(file.status().code(), "roster-key.cert: " + file.status().message());
  return crypto::RosterKeyCertificate::decode(*file);
}

Result<FileLock> Org::lock_changes() const {
  return FileLock::acquire(org_dir() / "org.lock",
                           "another hearth-admin command is changing the organisation in " +
                               dir_.string() + "; run this again when it has finished");
}

Result<client::EnrollmentCertificate> Org::enroll(const client::KeyRequest& request,
                                                  const EnrollParams& params,
                                                  UnixSeconds now) const {
  HEARTH_ASSIGN_OR_RETURN(FileLock lock, lock_changes());
  HEARTH_ASSIGN_OR_RETURN(OrgState state, load());
  const std::string id = params.id.value_or(request.responder_id);
  if (!crypto::is_valid_responder_id(id))
    return error(Code::kInvalidArgument,
                 "responder id \"" + id + "\": 1-64 characters of a-z, 0-9, '.', '_', '-'");
  if (params.queues.empty())
    return error(Code::kInvalidArgument, "give at least one queue (--queues a,b)");
  for (const auto& q : params.queues) {
    if (!crypto::is_valid_queue_name(q))
      return error(Code::kInvalidArgument, "queue \"" + q + "\": 1-64 characters of a-z, 0-9, '-'");
  }
  if (params.languages.empty())
    return error(Code::kInvalidArgument, "give at least one language (--languages en,es)");
  for (const auto& l : params.languages) {
    if (!crypto::is_valid_language(l))
      return error(Code::kInvalidArgument,
                   "language \"" + l + "\": an ISO 639-1 code such as en, es, fr");
  }
  if (has_duplicates(params.queues) || has_duplicates(params.languages))
    return error(Code::kInvalidArgument, "a queue or language is listed twice");
  if (params.valid_days < 1 || params.valid_days > kMaxCertificateDays)
    return error(Code::kInvalidArgument,
                 "--valid-days must be 1.." + std::to_string(kMaxCertificateDays));
  if (state.active(id) != nullptr)
    return error(Code::kAlreadyExists, "\"" + id +
                                           "\" is already enrolled; revoke that certificate "
                                           "first (hearth-admin revoke) or choose another --id");
  for (const OrgResponder& r : state.responders) {
    auto cert = decode_certificate(r);
    if (cert.is_ok() &&
        (cert->fields.signing_key == request.signing_key || cert->fields.dh_key == request.dh_key))
      return error(Code::kAlreadyExists, "these keys were already certified (for \"" + r.id +
                                             "\"); the responder must make a new request");
  }

  HEARTH_ASSIGN_OR_RETURN(crypto::RosterKeyCertificate rkc, roster_key_certificate());
  HEARTH_ASSIGN_OR_RETURN(crypto::SigningKey roster_key, read_key("roster.key"));
  if (roster_key.public_key() != rkc.roster_key)
    return error(Code::kCorrupt, "roster.key does not match roster-key.cert");
  const std::uint64_t serial = state.next_serial++;
  HEARTH_ASSIGN_OR_RETURN(
      crypto::ResponderCertificate cert,
      crypto::issue_certificate(
          roster_key, {id, params.queues, params.languages, request.signing_key, request.dh_key,
                       now - kBackdate, now + params.valid_days * kDay, serial}));
  OrgResponder entry;
  entry.id = id;
  entry.certificate = cert.encode();
  entry.queues = params.queues;
  entry.languages = params.languages;
  entry.serial = serial;
  entry.enrolled_at = now;
  entry.not_after = cert.fields.not_after;
  state.responders.push_back(std::move(entry));
  HEARTH_TRY(save(state));
  return client::EnrollmentCertificate{rkc, std::move(cert)};
}

Status Org::revoke(std::string_view id, UnixSeconds now) const {
  HEARTH_ASSIGN_OR_RETURN(FileLock lock, lock_changes());
  HEARTH_ASSIGN_OR_RETURN(OrgState state, load());
  bool known = false;
  bool revoked = false;
  for (OrgResponder& r : state.responders) {
    if (r.id != id) continue;
    known = true;
    if (!r.revoked_at) {
      r.revoked_at = now;
      revoked = true;
    }
  }
  if (!known)
    return error(Code::kNotFound, "no responder \"" + std::string(id) +
                                      "\" (`hearth-admin responder list` shows them)");
  if (!revoked)
    return error(Code::kAlreadyExists, "\"" + std::string(id) + "\" is already revoked");
  return save(state);
}

Result<SignedRosterReport> Org::sign_roster(int days, UnixSeconds now) const {
  HEARTH_ASSIGN_OR_RETURN(FileLock lock, lock_changes());
  HEARTH_ASSIGN_OR_RETURN(OrgState state, load());
  crypto::RosterContents contents;
  SignedRosterReport report;
  std::map<std::string, std::vector<Bytes>> by_queue;
  for (const OrgResponder& r : state.responders) {
    Bytes hash = r.hash();
    if (r.revoked_at) {
      // A revoked certificate is listed until it would have expired anyway;
      // after that every check refuses it for its dates alone.
      if (r.not_after > now) contents.revoked.push_back(std::move(hash));
      continue;
    }
    if (r.not_after <= now) {
      report.skipped_expired.push_back(r.id);
      continue;
    }
    for (const std::string& q : r.queues) by_queue[q].push_back(hash);
    ++report.responders;
  }
  for (auto& [queue, hashes] : by_queue) contents.queues.push_back({queue, std::move(hashes)});
  report.revoked = contents.revoked.size();
  auto signed_roster = sign_contents(std::move(state), std::move(contents), days, now);
  if (!signed_roster.is_ok()) return signed_roster.status();
  signed_roster->responders = report.responders;
  signed_roster->revoked = report.revoked;
  signed_roster->skipped_expired = std::move(report.skipped_expired);
  return signed_roster;
}

Result<SignedRosterReport> Org::renew_roster(int days, UnixSeconds now) const {
  HEARTH_ASSIGN_OR_RETURN(FileLock lock, lock_changes());
  HEARTH_ASSIGN_OR_RETURN(OrgState state, load());
  if (state.roster_epoch == 0)
    return error(Code::kNotFound,
                 "no roster has been signed yet: run `hearth-admin roster sign` first");
  HEARTH_ASSIGN_OR_RETURN(std::optional<crypto::SignedRoster> stored, last_roster());
  if (!stored)
    return error(Code::kNotFound,
                 "org/roster.bin is missing; sign a new roster with "
                 "`hearth-admin roster sign`");
  crypto::SignedRoster last = std::move(*stored);
  if (last.hash() != state.roster_hash || last.contents.epoch != state.roster_epoch)
    return error(Code::kCorrupt,
                 "org/roster.bin is not the roster org.json records; sign a new one with "
                 "`hearth-admin roster sign`");
  std::vector<Bytes> listed;
  for (const auto& q : last.contents.queues)
    for (const Bytes& h : q.certificate_hashes)
      if (std::find(listed.begin(), listed.end(), h) == listed.end()) listed.push_back(h);
  const std::size_t revoked = last.contents.revoked.size();
  HEARTH_ASSIGN_OR_RETURN(SignedRosterReport report,
                          sign_contents(std::move(state), std::move(last.contents), days, now));
  report.responders = listed.size();
  report.revoked = revoked;
  return report;
}

Result<SignedRosterReport> Org::sign_contents(OrgState state, crypto::RosterContents contents,
                                              int days, UnixSeconds now) const {
  if (days < 1 || days > kMaxRosterDays)
    return error(Code::kInvalidArgument,
                 "--days must be 1.." + std::to_string(kMaxRosterDays) +
                     " (a longer roster would hide a revocation from clients for that long)");
  HEARTH_ASSIGN_OR_RETURN(crypto::RosterKeyCertificate rkc, roster_key_certificate());
  contents.epoch = state.roster_epoch + 1;
  contents.previous_hash = state.roster_hash;
  contents.issued_at = now - kBackdate;
  contents.expires_at = now + days * kDay;
  if (contents.expires_at > rkc.not_after)
    return error(Code::kExpired, "the roster key's certificate ends " + utc_time(rkc.not_after) +
                                     ", before this roster would; sign for fewer --days");
  HEARTH_ASSIGN_OR_RETURN(crypto::SigningKey roster_key, read_key("roster.key"));
  if (roster_key.public_key() != rkc.roster_key)
    return error(Code::kCorrupt, "roster.key does not match roster-key.cert");
  HEARTH_ASSIGN_OR_RETURN(crypto::SignedRoster roster,
                          crypto::sign_roster(roster_key, rkc, std::move(contents)));
  // Checked as a client will check it before anything is written.
  HEARTH_TRY(crypto::verify_roster(state.org_root, roster, now).status());
  const Bytes encoded = roster.encode();
  HEARTH_TRY(write_private_file(org_dir() / "roster.bin", encoded));
  HEARTH_TRY(make_private_directory(server_dir()));
  HEARTH_TRY(write_private_file(server_roster_path(), encoded));
  state.roster_epoch = roster.contents.epoch;
  state.roster_hash = roster.hash();
  state.roster_issued_at = roster.contents.issued_at;
  state.roster_expires_at = roster.contents.expires_at;
  HEARTH_TRY(save(state));
  SignedRosterReport report;
  report.roster = std::move(roster);
  return report;
}

}  // namespace hearth::admin

// The admin's organisation directory: what `hearth-admin init` makes and the
// org commands (enrol, revoke, sign the roster) work on.
//
//   DIR/org/      the offline half — stays on the admin's machine (0700)
//     root.key        org root signing seed (hex); needed only to certify a roster key
//     roster.key      roster-signing seed (hex): certifies responders, signs rosters
//     roster-key.cert the org root's certificate for the roster key
//     root.pub        the org root public key (hex) that clients pin
//     org.json        the org's state: responders, their certificates, queues,
//                     languages, revocations, the last roster's epoch and hash
//     roster.bin      the admin's copy of the last signed roster (`roster renew`)
//     org.lock        held while a command changes the org (common/file_lock.h)
//   DIR/server/   what goes to the server host
//     hearthd.json    hearthd's config (relative paths: copy the folder whole)
//     routing.json    the routing rules (the shipped default to start with)
//     roster.bin      the signed roster hearthd serves (reloaded on SIGHUP)
//     data/           the database and its master key, created empty
//
// Every file is 0600 and every directory 0700; key files are read into
// SecretBytes and the text copies wiped. The formats: docs/hearth-admin.md.
//
// Thread safety: an Org is a value over a path. Each change (enroll, revoke,
// sign, renew) loads, changes and saves org.json under org/org.lock, so two
// admin commands on one directory never overwrite each other's work: the
// second is refused with kUnavailable until the first has finished.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "clients/lib/enrollment.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/file_lock.h"
#include "common/status.h"
#include "crypto/keys.h"
#include "crypto/trust.h"

namespace hearth::admin {

inline constexpr UnixSeconds kDay = 24 * 3600;
// The roster key's certificate lasts this long; a roster cannot outlive it.
inline constexpr UnixSeconds kRosterKeyLifetime = 365 * kDay;
// Bounds on what an admin may ask for: a roster past 90 days would leave a
// revocation unseen for too long; a certificate past two years, a lost laptop.
inline constexpr int kMaxRosterDays = 90;
inline constexpr int kMaxCertificateDays = 730;

struct InitOptions {
  std::string name = "Hearth";
  std::string address = "127.0.0.1";
  int port = 8750;
  int metrics_port = 8751;
  std::uint32_t pow_effort = 20000;
  // web.root in hearthd.json (an absolute path), when the page is served.
  std::optional<std::string> web_root;
};

// One certificate the org issued (a responder re-enrolled after a revocation
// has two entries: the revoked one and the new one).
struct OrgResponder {
  std::string id;
  Bytes certificate;  // crypto::ResponderCertificate encoding
  std::vector<std::string> queues;
  std::vector<std::string> languages;
  std::uint64_t serial = 0;
  UnixSeconds enrolled_at = 0;
  UnixSeconds not_after = 0;
  std::optional<UnixSeconds> revoked_at;

  Bytes hash() const;  // the certificate's hash, as the roster lists it
};

struct OrgState {
  std::string name;
  crypto::SigningPublicKey org_root;
  std::uint64_t next_serial = 1;
  // The last roster signed: epoch 0 when none yet.
  std::uint64_t roster_epoch = 0;
  Bytes roster_hash = Bytes(crypto::kHashBytes, 0);
  UnixSeconds roster_issued_at = 0;
  UnixSeconds roster_expires_at = 0;
  std::vector<OrgResponder> responders;

  // The certificate of `id` that is not revoked, or nullptr.
  const OrgResponder* active(std::string_view id) const;

  std::string to_json() const;
  // kCorrupt for anything malformed (the file is the admin tool's own).
  static Result<OrgState> from_json(std::string_view text);
};

// What the admin decides when certifying a request.
struct EnrollParams {
  std::optional<std::string> id;  // overrides the requested id
  std::vector<std::string> queues;
  std::vector<std::string> languages;
  int valid_days = 90;
};

// A signed roster and what it was made of, for the command to report.
struct SignedRosterReport {
  crypto::SignedRoster roster;
  std::size_t responders = 0;  // certificates listed
  std::size_t revoked = 0;
  std::vector<std::string> skipped_expired;  // ids whose certificate has lapsed
};

class Org {
 public:
  explicit Org(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Makes the whole directory: keys (root certifies the roster key for
  // kRosterKeyLifetime), org.json, hearthd.json, routing.json and an empty
  // database with its master key. kAlreadyExists when DIR/org or DIR/server
  // is already there (nothing is touched); kInvalidArgument for bad options;
  // kUnavailable when a file cannot be written (what was made is removed).
  static Result<Org> init(const std::filesystem::path& dir, const InitOptions& options,
                          UnixSeconds now);

  std::filesystem::path dir() const { return dir_; }
  std::filesystem::path org_dir() const { return dir_ / "org"; }
  std::filesystem::path server_dir() const { return dir_ / "server"; }
  std::filesystem::path server_roster_path() const { return server_dir() / "roster.bin"; }

  // kNotFound (with "run hearth-admin init") when DIR is not an org directory.
  Result<OrgState> load() const;
  Status save(const OrgState& state) const;
  Result<crypto::SigningPublicKey> root_public_key() const;
  // The admin's copy of the last signed roster (nullopt when none yet).
  Result<std::optional<crypto::SignedRoster>> last_roster() const;

  // Verifies nothing more than KeyRequest::parse did; certifies the request's
  // keys with the roster key under `params`, records it and returns the file
  // for the responder. kInvalidArgument: bad queues, languages, days or id;
  // kAlreadyExists: the id has an active certificate, or these keys were
  // already certified.
  Result<client::EnrollmentCertificate> enroll(const client::KeyRequest& request,
                                               const EnrollParams& params, UnixSeconds now) const;

  // Marks every active certificate of `id` revoked. kNotFound: no such
  // responder; kAlreadyExists: already revoked.
  Status revoke(std::string_view id, UnixSeconds now) const;

  // Signs a new roster from the current state (epoch + 1, every active,
  // unexpired certificate under its queues, revoked certificates not yet
  // expired listed as revoked, valid for `days`), writes it to
  // DIR/org/roster.bin and DIR/server/roster.bin atomically and records it.
  // kInvalidArgument: days out of 1..kMaxRosterDays; kExpired: the roster would
  // outlive the roster key's certificate.
  Result<SignedRosterReport> sign_roster(int days, UnixSeconds now) const;
  // The last roster's contents again with epoch + 1 and a new expiry.
  // kNotFound: no roster signed yet.
  Result<SignedRosterReport> renew_roster(int days, UnixSeconds now) const;

 private:
  static Status make_org_files(const Org& org, const InitOptions& options, UnixSeconds now);
  Result<crypto::SigningKey> read_key(const std::string& name) const;
  Result<crypto::RosterKeyCertificate> roster_key_certificate() const;
  // Held from load() to save() by every change to the org.
  Result<FileLock> lock_changes() const;
  Result<SignedRosterReport> sign_contents(OrgState state, crypto::RosterContents contents,
                                           int days, UnixSeconds now) const;

  std::filesystem::path dir_;
};

// The routing rules file hearthd.json points at, and the config itself.
std::string hearthd_config_json(const InitOptions& options, const std::string& org_root_hex);

// "2026-12-09 10:00 UTC".
std::string utc_time(UnixSeconds t);

}  // namespace hearth::admin

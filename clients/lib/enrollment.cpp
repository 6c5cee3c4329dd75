#include "clients/lib/enrollment.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "clients/lib/secret_writer.h"
#include "common/byte_reader.h"
#include "common/fd.h"
#include "common/files.h"
#include "crypto/aead.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace hearth::client {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kRequestLabel = "HL1/key-request";
constexpr std::string_view kCertificateLabel = "HL1/enrollment-certificate";
constexpr std::string_view kPendingLabel = "HL1/enrollment-pending";
constexpr std::uint8_t kFormatVersion = 1;
constexpr std::string_view kPendingMagic = "HEARTHEP";
constexpr std::uint32_t kPendingFileVersion = 1;
constexpr std::size_t kPendingHeaderBytes = 8 + 4 + crypto::kArgonSaltBytes;
constexpr std::size_t kMaxPendingFileBytes = 4096;
constexpr std::size_t kMaxEncodedCertificate = 16 * 1024;
constexpr std::string_view kRequestArmour = "HEARTH KEY REQUEST";
constexpr std::string_view kCertificateArmour = "HEARTH RESPONDER CERTIFICATE";
constexpr std::size_t kArmourLineChars = 64;

std::string armour(std::string_view kind, ByteView bytes) {
  std::string body = crypto::base64url_encode(bytes);
  std::string out = "-----BEGIN " + std::string(kind) + "-----\n";
  for (std::size_t i = 0; i < body.size(); i += kArmourLineChars)
    out += body.substr(i, kArmourLineChars) + "\n";
  return out + "-----END " + std::string(kind) + "-----\n";
}

// The bytes between the BEGIN and END lines of `kind`; text around the block
// (a mail's greeting) is ignored, whitespace inside it too.
Result<Bytes> unarmour(std::string_view kind, std::string_view text) {
  if (text.size() > kMaxArmouredBytes) return error(Code::kInvalidArgument, "file too large");
  const std::string begin = "-----BEGIN " + std::string(kind) + "-----";
  const std::string end = "-----END " + std::string(kind) + "-----";
  auto b = text.find(begin);
  if (b == std::string_view::npos)
    return error(Code::kInvalidArgument,
                 "not a " + std::string(kind) + " (no \"" + begin + "\" line)");
  auto e = text.find(end, b + begin.size());
  if (e == std::string_view::npos)
    return error(Code::kInvalidArgument,
                 "the " + std::string(kind) + " is cut short (no END line)");
  std::string body;
  for (char c : text.substr(b + begin.size(), e - b - begin.size())) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') body += c;
  }
  auto bytes = crypto::base64url_decode(body);
  if (!bytes.is_ok())
    return error(Code::kInvalidArgument, "the " + std::string(kind) + " is damaged (bad base64)");
  return std::move(bytes).value();
}

Bytes pending_header(ByteView salt) {
  Bytes h = to_bytes(kPendingMagic);
  append_u32_be(h, kPendingFileVersion);
  append(h, salt);
  return h;
}

// The same derivation as the ResponderStore (Argon2id ops 3, 64 MiB): the
// pending file is as costly to guess as the store it becomes.
Result<crypto::SecretBytes> derive_pending_key(std::string_view passphrase, ByteView salt) {
  return crypto::argon2id(as_bytes(passphrase), salt, crypto::kAeadKeyBytes);
}

Status write_pending(const fs::path& dir, std::string_view passphrase, const PendingKeys& keys) {
  Bytes salt = crypto::random_bytes(crypto::kArgonSaltBytes);
  HEARTH_ASSIGN_OR_RETURN(crypto::SecretBytes key, derive_pending_key(passphrase, salt));
  crypto::SecretBytes seed = keys.signing_key.seed();
  crypto::SecretBytes contents = detail::SecretWriter::build([&](detail::SecretWriter& w) {
    w.lp(kPendingLabel);
    w.u8(kFormatVersion);
    w.fixed(seed.view());
    w.fixed(keys.dh_key.private_key().view());
    w.lp(std::string_view(keys.responder_id));
  });
  Bytes file = pending_header(salt);
  append(file, crypto::aead_seal(key, contents.view(), file));
  return write_private_file(dir / kPendingKeysFileName, file, Overwrite::kRefuse);
}

// Overwrites the pending file's bytes before unlinking it: it is encrypted,
// but a passphrase guessed later should find nothing left to open. (On
// copy-on-write or flash storage the old blocks may survive; docs say so.)
Status wipe_pending(const fs::path& dir) {
  const fs::path path = dir / kPendingKeysFileName;
  Fd fd(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.valid()) {
    off_t size = ::lseek(fd.get(), 0, SEEK_END);
    ::lseek(fd.get(), 0, SEEK_SET);
    std::vector<char> zeros(static_cast<std::size_t>(std::max<off_t>(size, 0)), 0);
    std::size_t done = 0;
    while (done < zeros.size()) {
      ssize_t n = ::write(fd.get(), zeros.data() + done, zeros.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::fsync(fd.get());
  }
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return error(Code::kUnavailable, "cannot remove the pending keys file");
  return Status::ok();
}

}  // namespace

// --- KeyRequest ---

Bytes KeyRequest::signed_part() const {
  Bytes out;
  append_lp(out, as_bytes(kRequestLabel));
  out.push_back(kFormatVersion);
  append_lp(out, as_bytes(responder_id));
  append(out, signing_key.view());
  append(out, dh_key.view());
  return out;
}

Bytes KeyRequest::encode() const { return crypto::with_signature(signed_part(), signature); }

Result<KeyRequest> KeyRequest::decode(ByteView bytes) {
  ByteReader r(bytes);
  KeyRequest req;
  HEARTH_TRY(r.expect_label(kRequestLabel));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t version, r.u8());
  if (version != kFormatVersion)
    return error(Code::kInvalidArgument, "unknown key request version");
  HEARTH_ASSIGN_OR_RETURN(req.responder_id, r.lp_string(crypto::kMaxNameBytes));
  if (!crypto::is_valid_responder_id(req.responder_id))
    return error(Code::kInvalidArgument, "the requested responder id is not valid");
  HEARTH_ASSIGN_OR_RETURN(req.signing_key, r.read<crypto::SigningPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(req.dh_key, r.read<crypto::DhPublicKey>());
  HEARTH_ASSIGN_OR_RETURN(req.signature, r.read<crypto::Signature>());
  HEARTH_TRY(r.finish());
  // One key must never both sign and do DH (reference/crypto.md P4).
  if (req.signing_key.bytes == req.dh_key.bytes)
    return error(Code::kInvalidArgument, "the request uses one key for signing and DH");
  if (!crypto::verify_signature(req.signing_key, req.signed_part(), req.signature).is_ok())
    return error(Code::kAuthFailed, "the key request's signature does not verify (modified?)");
  return req;
}

std::string KeyRequest::armoured() const { return armour(kRequestArmour, encode()); }

Result<KeyRequest> KeyRequest::parse(std::string_view text) {
  HEARTH_ASSIGN_OR_RETURN(Bytes bytes, unarmour(kRequestArmour, text));
  auto req = decode(bytes);
  if (!req.is_ok() && req.status().code() == Code::kInvalidArgument)
    return error(Code::kInvalidArgument, "not a valid key request: " + req.status().message());
  return req;
}

std::string KeyRequest::fingerprint() const { return crypto::fingerprint(signing_key); }

Result<KeyRequest> make_key_request(const crypto::SigningKey& signing_key,
                                    const crypto::DhKey& dh_key, std::string responder_id) {
  if (!crypto::is_valid_responder_id(responder_id))
    return error(Code::kInvalidArgument,
                 "the responder id must be 1-64 characters of a-z, 0-9, '.', '_' or '-'");
  KeyRequest req;
  req.responder_id = std::move(responder_id);
  req.signing_key = signing_key.public_key();
  req.dh_key = dh_key.public_key();
  req.signature = signing_key.sign(req.signed_part());
  return req;
}

// --- EnrollmentCertificate ---

Bytes EnrollmentCertificate::encode() const {
  Bytes out;
  append_lp(out, as_bytes(kCertificateLabel));
  out.push_back(kFormatVersion);
  append_lp(out, roster_key_certificate.encode());
  append_lp(out, certificate.encode());
  return out;
}

Result<EnrollmentCertificate> EnrollmentCertificate::decode(ByteView bytes) {
  ByteReader r(bytes);
  HEARTH_TRY(r.expect_label(kCertificateLabel));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t version, r.u8());
  if (version != kFormatVersion)
    return error(Code::kInvalidArgument, "unknown certificate file version");
  HEARTH_ASSIGN_OR_RETURN(ByteView rkc, r.lp(kMaxEncodedCertificate));
  HEARTH_ASSIGN_OR_RETURN(ByteView cert, r.lp(kMaxEncodedCertificate));
  HEARTH_TRY(r.finish());
  EnrollmentCertificate out;
  HEARTH_ASSIGN_OR_RETURN(out.roster_key_certificate, crypto::RosterKeyCertificate::decode(rkc));
  HEARTH_ASSIGN_OR_RETURN(out.certificate, crypto::ResponderCertificate::decode(cert));
  return out;
}

std::string EnrollmentCertificate::armoured() const { return armour(kCertificateArmour, encode()); }

Result<EnrollmentCertificate> EnrollmentCertificate::parse(std::string_view text) {
  HEARTH_ASSIGN_OR_RETURN(Bytes bytes, unarmour(kCertificateArmour, text));
  auto cert = decode(bytes);
  if (!cert.is_ok())
    return error(Code::kInvalidArgument,
                 "not a valid certificate file: " + cert.status().message());
  return cert;
}

Status EnrollmentCertificate::check(const crypto::SigningPublicKey& org_root,
                                    const crypto::SigningPublicKey& signing_key,
                                    const crypto::DhPublicKey& dh_key, UnixSeconds now) const {
  const crypto::RosterKeyCertificate& rkc = roster_key_certificate;
  if (!crypto::verify_signature(org_root, rkc.signed_part(), rkc.signature).is_ok())
    return error(Code::kAuthFailed,
                 "the certificate was not issued under this org root key (check the key your "
                 "admin gave you)");
  if (now + crypto::kClockSkew < rkc.not_before || now >= rkc.not_after)
    return error(Code::kExpired, "the org's roster key certificate is outside its validity");
  if (!crypto::verify_signature(rkc.roster_key, certificate.signed_part(), certificate.signature)
           .is_ok())
    return error(Code::kAuthFailed, "the certificate is not signed by the org's roster key");
  const crypto::CertificateRequest& f = certificate.fields;
  if (f.signing_key != signing_key || f.dh_key != dh_key)
    return error(Code::kInvalidArgument,
                 "this certificate is for other keys (not the request made here)");
  if (now + crypto::kClockSkew < f.not_before || now >= f.not_after)
    return error(Code::kExpired, "the certificate is outside its validity period");
  return Status::ok();
}

// --- The two steps ---

Result<KeyRequest> begin_enrollment(const fs::path& dir, std::string_view passphrase,
                                    std::string responder_id) {
  if (!crypto::is_valid_responder_id(responder_id))
    return error(Code::kInvalidArgument,
                 "the responder id must be 1-64 characters of a-z, 0-9, '.', '_' or '-'");
  if (passphrase.size() < kMinPassphraseBytes)
    return error(Code::kInvalidArgument, "the passphrase must be at least 8 characters");
  std::error_code ec;
  if (fs::exists(dir / ResponderStore::kStoreFileName, ec))
    return error(Code::kAlreadyExists, "a responder store already exists there");
  if (fs::exists(dir / kPendingKeysFileName, ec))
    return error(Code::kAlreadyExists,
                 "an enrolment is already pending there (install its certificate, or remove " +
                     std::string(kPendingKeysFileName) + " to start over)");
  HEARTH_TRY(make_private_directory(dir));
  PendingKeys keys{std::move(responder_id), crypto::SigningKey::generate(),
                   crypto::DhKey::generate()};
  HEARTH_ASSIGN_OR_RETURN(KeyRequest req,
                          make_key_request(keys.signing_key, keys.dh_key, keys.responder_id));
  HEARTH_TRY(write_pending(dir, passphrase, keys));
  return req;
}

Result<PendingKeys> read_pending_keys(const fs::path& dir, std::string_view passphrase) {
  auto file = read_private_file(dir / kPendingKeysFileName, kMaxPendingFileBytes);
  if (!file.is_ok()) {
    if (file.status().code() == Code::kNotFound)
      return error(Code::kNotFound,
                   "no pending enrolment there (run `hearth-console enroll --id ID` first)");
    return file.status();
  }
  const Bytes& bytes = file.value();
  if (bytes.size() < kPendingHeaderBytes + crypto::kAeadOverhead ||
      !std::equal(kPendingMagic.begin(), kPendingMagic.end(), bytes.begin()))
    return error(Code::kInvalidArgument, "not a Hearth pending enrolment file");
  ByteReader header(ByteView(bytes).first(kPendingHeaderBytes));
  (void)header.fixed(kPendingMagic.size());
  auto version = header.u32();
  if (!version.is_ok() || version.value() != kPendingFileVersion)
    return error(Code::kInvalidArgument, "unknown pending enrolment format version");
  ByteView salt = ByteView(bytes).subspan(kPendingMagic.size() + 4, crypto::kArgonSaltBytes);
  HEARTH_ASSIGN_OR_RETURN(crypto::SecretBytes key, derive_pending_key(passphrase, salt));
  auto opened = crypto::aead_open(key, ByteView(bytes).subspan(kPendingHeaderBytes),
                                  ByteView(bytes).first(kPendingHeaderBytes));
  if (!opened.is_ok())
    return error(Code::kAuthFailed, "wrong passphrase, or the pending keys file was modified");
  crypto::SecretBytes contents = crypto::SecretBytes::from(opened.value());
  crypto::wipe(opened.value());

  ByteReader r(contents.view());
  HEARTH_TRY(r.expect_label(kPendingLabel));
  HEARTH_ASSIGN_OR_RETURN(std::uint8_t v, r.u8());
  if (v != kFormatVersion) return error(Code::kInvalidArgument, "unknown pending keys version");
  HEARTH_ASSIGN_OR_RETURN(ByteView seed, r.fixed(crypto::kSeedBytes));
  HEARTH_ASSIGN_OR_RETURN(ByteView dh, r.fixed(crypto::kPublicKeyBytes));
  HEARTH_ASSIGN_OR_RETURN(std::string id, r.lp_string(crypto::kMaxNameBytes));
  HEARTH_TRY(r.finish());
  HEARTH_ASSIGN_OR_RETURN(crypto::SigningKey signing, crypto::SigningKey::from_seed(seed));
  HEARTH_ASSIGN_OR_RETURN(crypto::DhKey dh_key, crypto::DhKey::from_private(dh));
  return PendingKeys{std::move(id), std::move(signing), std::move(dh_key)};
}

Result<KeyRequest> pending_key_request(const fs::path& dir, std::string_view passphrase) {
  HEARTH_ASSIGN_OR_RETURN(PendingKeys keys, read_pending_keys(dir, passphrase));
  return make_key_request(keys.signing_key, keys.dh_key, keys.responder_id);
}

Result<std::unique_ptr<ResponderStore>> complete_enrollment(
    const fs::path& dir, std::string_view passphrase, const EnrollmentCertificate& certificate,
    const crypto::SigningPublicKey& org_root, UnixSeconds now) {
  std::error_code ec;
  if (fs::exists(dir / ResponderStore::kStoreFileName, ec))
    return error(Code::kAlreadyExists, "already enrolled: a responder store is there");
  HEARTH_ASSIGN_OR_RETURN(PendingKeys keys, read_pending_keys(dir, passphrase));
  HEARTH_TRY(
      certificate.check(org_root, keys.signing_key.public_key(), keys.dh_key.public_key(), now));
  HEARTH_ASSIGN_OR_RETURN(std::unique_ptr<ResponderStore> store,
                          ResponderStore::create(dir, passphrase, keys.signing_key, keys.dh_key,
                                                 certificate.certificate.encode(), org_root));
  HEARTH_TRY(wipe_pending(dir));
  return store;
}

}  // namespace hearth::client

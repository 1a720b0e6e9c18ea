// ed25519 identities from libsodium, with CurveZMQ keys derived from them.
#include "plume/protocol/identity.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <sodium.h>

#include "plume/protocol/hash.h"

namespace plume {
namespace {
constexpr std::string_view kKeyFileMagic = "plume-ed25519-v1";
}

Identity Identity::Generate() {
  if (sodium_init() < 0) __builtin_trap();
  Identity id;
  crypto_sign_keypair(id.pk_.data(), id.sk_.data());
  return id;
}

Result<Identity> Identity::Load(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail("cannot read key file " + path.string() + ": it does not exist (create one with `plume keygen`)");
  }
  if ((st.st_mode & 077) != 0) {
    return Fail("key file " + path.string() + " is readable by others; run `chmod 600 " +
                path.string() + "`");
  }
  std::ifstream in(path);
  std::string magic, hex;
  if (!(in >> magic >> hex) || magic != kKeyFileMagic) {
    return Fail("key file " + path.string() + " is not a Plume key file (expected first line '" +
                std::string(kKeyFileMagic) + "')");
  }
  auto bytes = FromHex(hex);
  if (!bytes || bytes->size() != 64) {
    return Fail("key file " + path.string() + " holds a malformed secret key (want 128 hex characters)");
  }
  Identity id;
  std::copy(bytes->begin(), bytes->end(), id.sk_.begin());
  std::copy(id.sk_.begin() + 32, id.sk_.end(), id.pk_.begin());
  // The stored public half must match the seed; a file edited by hand would otherwise sign with
  // one key and announce another.
  PublicKey derived;
  crypto_sign_ed25519_sk_to_pk(derived.data(), id.sk_.data());
  std::array<uint8_t, 32> seed;
  crypto_sign_ed25519_sk_to_seed(seed.data(), id.sk_.data());
  PublicKey from_seed;
  std::array<uint8_t, 64> sk2;
  crypto_sign_seed_keypair(from_seed.data(), sk2.data(), seed.data());
  sodium_memzero(sk2.data(), sk2.size());
  if (from_seed != derived) return Fail("key file " + path.string() + " is corrupt (public half does not match the seed)");
  return id;
}

Result<Identity> Identity::LoadOrCreate(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return Load(path);
  Identity id = Generate();
  if (auto s = id.Save(path); !s) return tl::unexpected(s.error());
  return id;
}

Status Identity::Save(const std::filesystem::path& path) const {
  std::error_code ec;
  if (path.has_parent_path() && !std::filesystem::exists(path.parent_path(), ec)) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return Fail("cannot create directory " + path.parent_path().string() + ": " + ec.message());
    std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all, ec);
  }
  if (std::filesystem::exists(path, ec)) {
    return Fail("key file " + path.string() + " already exists; refusing to overwrite it");
  }
  // Create with 0600 from the start so the secret is never briefly world-readable.
  mode_t old = ::umask(077);
  std::ofstream out(path, std::ios::out | std::ios::trunc);
  ::umask(old);
  if (!out) return Fail("cannot write key file " + path.string());
  out << kKeyFileMagic << "\n" << ToHex(sk_) << "\n";
  out.close();
  if (!out) return Fail("cannot write key file " + path.string() + " (disk full?)");
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  return {};
}

std::string Identity::Id() const { return ToHex(pk_); }

Signature Identity::Sign(std::span<const uint8_t> message) const {
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), sk_.data());
  return sig;
}

Signature Identity::Sign(std::string_view message) const {
  return Sign(std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
}

CurveKey Identity::CurvePublic() const {
  CurveKey out;
  // Our own key came from crypto_sign_keypair (or a checked key file), so it is a valid point and
  // the conversion cannot fail; peers' keys go through CurvePublicFromEd25519, which checks.
  [[maybe_unused]] int rc = crypto_sign_ed25519_pk_to_curve25519(out.data(), pk_.data());
  return out;
}

CurveKey Identity::CurveSecret() const {
  CurveKey out;
  crypto_sign_ed25519_sk_to_curve25519(out.data(), sk_.data());
  return out;
}

bool VerifySignature(const PublicKey& pk, std::span<const uint8_t> message, const Signature& sig) {
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), pk.data()) == 0;
}

bool VerifySignature(const PublicKey& pk, std::string_view message, const Signature& sig) {
  return VerifySignature(pk, std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()), sig);
}

Result<PublicKey> PublicKeyFromHex(std::string_view hex) {
  if (hex.size() != 64) return Fail("a public key id is 64 hex characters, got " + std::to_string(hex.size()));
  auto bytes = FromHex(hex);
  if (!bytes) return tl::unexpected(bytes.error());
  PublicKey pk;
  std::copy(bytes->begin(), bytes->end(), pk.begin());
  return pk;
}

Result<CurveKey> CurvePublicFromEd25519(const PublicKey& pk) {
  CurveKey out;
  if (crypto_sign_ed25519_pk_to_curve25519(out.data(), pk.data()) != 0) {
    return Fail("public key " + ToHex(pk) + " is not a valid ed25519 point");
  }
  return out;
}

}  // namespace plume

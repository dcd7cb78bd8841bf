#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "msp/common/watched_file.h"

// JSON Web Key Sets (RFC 7517) of RS256 and ES256 public keys, as an identity provider
// publishes them, and the RFC 7638 thumbprint this suite uses as a key's `kid`.
namespace msp::auth {

struct VerificationKey {
  std::string kid;
  std::string algorithm;  // RS256 or ES256
  std::string pem;        // SubjectPublicKeyInfo PEM, as cpp-jwt takes it
};

class KeySet {
 public:
  // Parses a JWKS document ({"keys":[{"kty":"RSA","kid":...,"n":...,"e":...}, {"kty":"EC",
  // "crv":"P-256","kid":...,"x":...,"y":...}]}). A key without a kid, of another type or
  // use ("use":"enc"), or with an `alg` that does not fit its type is refused: throws
  // std::invalid_argument naming it, so a bad file never replaces a good set.
  static KeySet Parse(std::string_view jwks);
  const VerificationKey* Find(std::string_view kid) const;
  size_t size() const { return keys_.size(); }

 private:
  std::map<std::string, VerificationKey, std::less<>> keys_;
};

// A key set read from a file and read again when the file changes (a Kubernetes Secret
// rotated in place), checked at most once per `check_interval`. A file that no longer parses
// keeps the last good set, and says so in the log.
class KeySetFile {
 public:
  explicit KeySetFile(std::string path,
                      std::chrono::milliseconds check_interval = std::chrono::seconds(1));
  std::shared_ptr<const KeySet> Current() const;
  // Grows with each reload (a verifier drops what it verified with an older set).
  uint64_t Generation() const;

 private:
  void ReloadIfDue() const;

  mutable std::mutex mu_;
  mutable WatchedFile file_;
  mutable std::shared_ptr<const KeySet> set_;
  mutable std::atomic<uint64_t> generation_{0};
};

// RFC 7638: the base64url SHA-256 of the public key's canonical JWK members. Takes a PEM
// public or private key (RSA or P-256). Throws std::invalid_argument.
std::string KeyThumbprint(const std::string& pem);
// "RS256" for an RSA key, "ES256" for a P-256 one (PEM, public or private).
std::string KeyAlgorithm(const std::string& pem);
// The public key of a PEM key pair as a JWK object with its thumbprint as kid (JSON text).
std::string PublicJwk(const std::string& pem);

}  // namespace msp::auth

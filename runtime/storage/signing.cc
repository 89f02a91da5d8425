// Azure request signing (see signing.h).
#include "runtime/storage/signing.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fmt/format.h"

namespace mt::storage::azure {

std::string Base64Encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> Base64Decode(const std::string& text) {
  if (text.size() % 4 != 0) return absl::InvalidArgumentError("not base64 (length)");
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return absl::InvalidArgumentError("not base64");
  size_t pad = 0;
  while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string HmacSha256(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string UrlEncode(const std::string& text, bool keep_slash) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string StringToSign(const std::string& account, const SignRequest& r) {
  auto header = [&](const char* name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? std::string() : it->second;
  };
  std::string s = r.verb + "\n";
  s += header("Content-Encoding") + "\n";
  s += header("Content-Language") + "\n";
  s += (r.content_length > 0 ? std::to_string(r.content_length) : "") + "\n";
  s += header("Content-MD5") + "\n";
  s += header("Content-Type") + "\n";
  s += "\n";  // Date: x-ms-date is used instead
  s += header("If-Modified-Since") + "\n";
  s += header("If-Match") + "\n";
  s += header("If-None-Match") + "\n";
  s += header("If-Unmodified-Since") + "\n";
  s += header("Range") + "\n";
  for (const auto& [name, value] : r.ms_headers) s += name + ":" + value + "\n";
  s += "/" + account + r.url_path;
  for (const auto& [name, value] : r.query) s += "\n" + name + ":" + value;
  return s;
}

absl::StatusOr<std::string> SharedKeyAuthorization(const std::string& account,
                                                   const std::string& key_base64,
                                                   const SignRequest& r) {
  auto key = Base64Decode(key_base64);
  if (!key.ok()) return absl::InvalidArgumentError("the storage account key is not base64");
  return fmt::format("SharedKey {}:{}", account,
                     Base64Encode(HmacSha256(*key, StringToSign(account, r))));
}

}  // namespace mt::storage::azure

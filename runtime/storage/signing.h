// Azure Shared Key and SAS signing (pure functions, unit-tested against known vectors).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::storage::azure {

std::string Base64Encode(const std::string& bytes);
absl::StatusOr<std::string> Base64Decode(const std::string& text);
// HMAC-SHA256(key, data).
std::string HmacSha256(const std::string& key, const std::string& data);
// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string UrlEncode(const std::string& text, bool keep_slash);

struct SignRequest {
  std::string verb;                               // "GET", "PUT", ...
  std::string url_path;                           // "/container/blob", already encoded
  std::map<std::string, std::string> query;       // decoded values
  std::map<std::string, std::string> headers;     // standard headers, by canonical name
  std::map<std::string, std::string> ms_headers;  // x-ms-*, lowercase names
  int64_t content_length = 0;
};

// The Shared Key string-to-sign (version 2009-09-19 and later).
std::string StringToSign(const std::string& account, const SignRequest& r);
// "SharedKey ACCOUNT:SIGNATURE" for the request, with the base64 account key.
absl::StatusOr<std::string> SharedKeyAuthorization(const std::string& account,
                                                   const std::string& key_base64,
                                                   const SignRequest& r);

}  // namespace mt::storage::azure

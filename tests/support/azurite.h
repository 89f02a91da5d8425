// Azurite in tests: Microsoft's published development account (not a secret) and the endpoint
// scripts/test.sh exports. A test without Azurite skips:
//   const char* endpoint = mt::testing::AzuriteEndpoint();
//   if (!endpoint) GTEST_SKIP() << mt::testing::kNoAzurite;
#pragma once

#include <cstdlib>
#include <string>

namespace mt::testing {

inline constexpr char kAzuriteAccount[] = "devstoreaccount1";
inline constexpr char kAzuriteKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
inline constexpr char kNoAzurite[] =
    "AZURITE_BLOB_ENDPOINT not set (scripts/test.sh starts Azurite)";

// The blob endpoint (http://127.0.0.1:PORT/devstoreaccount1), or null when Azurite is not up.
inline const char* AzuriteEndpoint() { return std::getenv("AZURITE_BLOB_ENDPOINT"); }

// `env VAR=...` text that gives a child process the Azurite account.
inline std::string AzuriteEnv(const std::string& endpoint) {
  return std::string("AZURE_STORAGE_CONNECTION_STRING='AccountName=") + kAzuriteAccount +
         ";AccountKey=" + kAzuriteKey + ";BlobEndpoint=" + endpoint + "'";
}

}  // namespace mt::testing

// az:// BlobStore: Azure Blob Storage over its REST API with libcurl (see blob_store.h).
//
// URI: az://ACCOUNT/CONTAINER[/PREFIX]. Credentials follow Azure's conventions, first found:
//   AZURE_STORAGE_CONNECTION_STRING  "AccountName=..;AccountKey=..;BlobEndpoint=.." (a
//                                    BlobEndpoint makes Azurite work) or with
//                                    SharedAccessSignature=..
//   AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY        Shared Key
//   AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_SAS_TOKEN  SAS
// Requests carry a fixed x-ms-version. Transient failures (connection errors, timeouts,
// truncated bodies, 408/429/500/502/503/504) are retried with exponential backoff and full
// jitter, honouring Retry-After. Keys and SAS signatures never appear in logs or errors.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/storage/blob_store.h"

namespace mt::storage {

struct AzureCredentials {
  std::string account;
  std::string key;       // base64 account key (Shared Key); empty with SAS
  std::string sas;       // SAS query string without '?'; empty with Shared Key
  std::string endpoint;  // "https://ACCOUNT.blob.core.windows.net" or a BlobEndpoint
};

struct AzureOptions {
  int max_attempts = 6;
  std::chrono::milliseconds base_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  std::chrono::seconds timeout{60};  // per request
  int64_t block_size = 8 << 20;      // Put: larger blobs go up as blocks of this size
  int list_page_size = 5000;         // maxresults of List Blobs (tests lower it)
  int lease_s = 30;                  // TakeHold's lease (Azure allows 15..60 s)
};

// Credentials for `account` (the URI's) from the environment; InvalidArgument naming the
// variables when none are usable.
absl::StatusOr<AzureCredentials> AzureCredentialsFromEnv(const std::string& account);
// The same for the account an az://ACCOUNT/... URI names.
absl::StatusOr<AzureCredentials> AzureCredentialsForUri(const std::string& uri);

absl::StatusOr<std::unique_ptr<BlobStore>> OpenAzureStore(const std::string& uri,
                                                          AzureCredentials credentials,
                                                          AzureOptions options = {});

// Creates the container an az:// URI names (OK when it exists already). Datasets and
// checkpoints assume a provisioned container; `data upload` and tests create one.
absl::Status CreateAzureContainer(const std::string& uri, AzureCredentials credentials,
                                  AzureOptions options = {});

// For az:// URIs: creates the container when missing (credentials from the environment); a
// refusal (PermissionDenied: a SAS without that right) is not an error, since such a SAS may
// still write into an existing container. Other schemes: OK, nothing to do.
absl::Status EnsureContainer(const std::string& uri);

// An account SAS for the blob service (permissions e.g. "rl" read+list, "racwdl" all) signed
// with the account key, valid until `expiry` ("2030-01-01T00:00:00Z"). For tests and tools.
absl::StatusOr<std::string> MakeAccountSas(const AzureCredentials& credentials,
                                           const std::string& permissions,
                                           const std::string& expiry);

// Removes SAS signatures and keys from text (URLs in messages).
std::string Redact(std::string text);

}  // namespace mt::storage

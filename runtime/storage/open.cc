// OpenBlobStore: the scheme dispatch (see blob_store.h).
#include "fmt/format.h"
#include "runtime/core/status.h"
#include "runtime/storage/azure_store.h"
#include "runtime/storage/blob_store.h"

namespace mt::storage {

absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& uri) {
  if (uri.starts_with("az://")) {
    MT_ASSIGN_OR_RETURN(AzureCredentials creds, AzureCredentialsForUri(uri));
    return OpenAzureStore(uri, std::move(creds));
  }
  if (uri.starts_with("file://")) return OpenFileStore(uri.substr(7));
  if (uri.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(fmt::format(
        "'{}': unknown storage scheme (file:// or az://ACCOUNT/CONTAINER/PREFIX)", uri));
  }
  return OpenFileStore(uri);
}

}  // namespace mt::storage

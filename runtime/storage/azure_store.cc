// az:// BlobStore over the Azure Blob REST API (see azure_store.h).
#include "runtime/storage/azure_store.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "fmt/format.h"
#include "pugixml.hpp"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/storage/http.h"
#include "runtime/storage/signing.h"

namespace mt::storage {
namespace {

constexpr char kVersion[] = "2021-08-06";  // x-ms-version of every request

std::string HttpDate() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// ---- one request, described once, signed per attempt ----

struct Call {
  Call(std::string v, std::string b) : verb(std::move(v)), blob(std::move(b)) {}
  std::string verb;
  std::string blob;  // full blob name within the container ("" for container operations)
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;     // standard (If-None-Match, Content-Type)
  std::map<std::string, std::string> ms_headers;  // x-ms-* besides date and version
  std::string_view body;  // not owned: the caller's data outlives the call and its retries
};

// "<Code>: <Message>" from an Azure error body, or the status line.
std::string AzureError(const http::Response& r) {
  pugi::xml_document doc;
  if (doc.load_string(r.body.c_str())) {
    const std::string code = doc.child("Error").child_value("Code");
    const std::string msg = doc.child("Error").child_value("Message");
    if (!code.empty()) {
      return fmt::format("HTTP {} {}: {}", r.status, code, msg.substr(0, msg.find('\n')));
    }
  }
  if (auto it = r.headers.find("x-ms-error-code"); it != r.headers.end()) {
    return fmt::format("HTTP {} {}", r.status, it->second);
  }
  return fmt::format("HTTP {}", r.status);
}

absl::Status StatusFor(const http::Response& r, const std::string& where) {
  const std::string what = Redact(fmt::format("{}: {}", where, AzureError(r)));
  switch (r.status) {
    case 401:
      return absl::UnauthenticatedError(what);
    case 403:
      return absl::PermissionDeniedError(what);
    case 404:
      return absl::NotFoundError(what);
    case 409:
    case 412:
      return absl::AlreadyExistsError(what);
    case 416:
      return absl::OutOfRangeError(what);
    default:
      return r.status >= 500 || r.status == 408 || r.status == 429
                 ? absl::UnavailableError(what)
                 : absl::InvalidArgumentError(what);
  }
}

bool Transient(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

class AzureStore final : public BlobStore {
 public:
  AzureStore(std::string uri, AzureCredentials creds, std::string container, std::string prefix,
             AzureOptions options)
      : uri_(std::move(uri)),
        creds_(std::move(creds)),
        container_(std::move(container)),
        prefix_(std::move(prefix)),
        options_(options),
        rng_(std::random_device{}()) {
    // The endpoint may carry a path (Azurite: http://host:port/ACCOUNT); split it once.
    const auto path_start = creds_.endpoint.find('/', creds_.endpoint.find("://") + 3);
    origin_ = creds_.endpoint.substr(0, path_start);
    container_path_ = (path_start == std::string::npos ? "" : creds_.endpoint.substr(path_start)) +
                      "/" + container_;
  }

  absl::StatusOr<std::string> Get(const std::string& path, int64_t offset,
                                  int64_t length) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    Call c{"GET", Blob(path)};
    if (offset > 0 || length >= 0) {
      c.ms_headers["x-ms-range"] = length >= 0
                                       ? fmt::format("bytes={}-{}", offset, offset + length - 1)
                                       : fmt::format("bytes={}-", offset);
      if (length == 0) return std::string();
    }
    MT_ASSIGN_OR_RETURN(http::Response r, Send(c, Where(path), {200, 206}));
    if (offset > 0 && r.body.empty()) {
      // Any range starting inside the blob returns at least one byte; Azure says 416 here,
      // Azurite an empty 206.
      return absl::OutOfRangeError(
          fmt::format("{}: offset {} is at or past the end", Where(path), offset));
    }
    if (r.status == 200 && offset > 0) {
      // A server that ignored the range (Azurite at the end of a blob) sent it all.
      if (offset >= static_cast<int64_t>(r.body.size())) {
        return absl::OutOfRangeError(fmt::format("{}: offset {} is at or past the end ({} bytes)",
                                                 Where(path), offset, r.body.size()));
      }
      return r.body.substr(offset, length < 0 ? std::string::npos : length);
    }
    return std::move(r.body);
  }

  absl::Status Put(const std::string& path, std::string_view data) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    if (static_cast<int64_t>(data.size()) <= options_.block_size) {
      return PutWhole(path, data, /*if_absent=*/false);
    }
    return PutBlocks(path, data);
  }

  absl::Status PutIfAbsent(const std::string& path, std::string_view data) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    return PutWhole(path, data, /*if_absent=*/true);
  }

  absl::Status CheckExists() override {
    Call c{"GET", ""};
    c.query = {
        {"restype", "container"}, {"comp", "list"}, {"prefix", prefix_}, {"maxresults", "1"}};
    auto r = Send(c, uri_, {200});
    if (!r.ok()) {
      return r.status().code() == absl::StatusCode::kNotFound
                 ? absl::NotFoundError(uri_ + ": no such container")
                 : r.status();
    }
    if (prefix_.empty()) return absl::OkStatus();
    pugi::xml_document doc;
    if (!doc.load_string(r->body.c_str())) {
      return absl::DataLossError(uri_ + ": unreadable List Blobs response");
    }
    if (doc.child("EnumerationResults").child("Blobs").child("Blob")) return absl::OkStatus();
    return absl::NotFoundError(uri_ + ": nothing is stored under this prefix");
  }

  absl::StatusOr<std::vector<BlobInfo>> List(const std::string& prefix) override {
    std::vector<BlobInfo> out;
    std::string marker;
    do {
      Call c{"GET", ""};
      c.query = {{"restype", "container"},
                 {"comp", "list"},
                 {"prefix", prefix_ + prefix},
                 {"maxresults", std::to_string(options_.list_page_size)}};
      if (!marker.empty()) c.query["marker"] = marker;
      MT_ASSIGN_OR_RETURN(http::Response r, Send(c, Where(prefix + "*"), {200}));
      pugi::xml_document doc;
      if (!doc.load_string(r.body.c_str())) {
        return absl::DataLossError(Where(prefix) + ": unreadable List Blobs response");
      }
      auto results = doc.child("EnumerationResults");
      for (auto blob : results.child("Blobs").children("Blob")) {
        const std::string name = blob.child_value("Name");
        out.push_back({name.substr(prefix_.size()),
                       std::atoll(blob.child("Properties").child_value("Content-Length"))});
      }
      marker = results.child_value("NextMarker");
    } while (!marker.empty());
    return out;
  }

  absl::StatusOr<BlobInfo> Stat(const std::string& path) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    MT_ASSIGN_OR_RETURN(http::Response r, Send(Call{"HEAD", Blob(path)}, Where(path), {200}));
    return BlobInfo{path, std::atoll(r.headers["content-length"].c_str())};
  }

  absl::Status Delete(const std::string& path) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    return Send(Call{"DELETE", Blob(path)}, Where(path), {202}).status();
  }

  const std::string& uri() const override { return uri_; }

  absl::StatusOr<std::unique_ptr<Hold>> TakeHold(const std::string& path,
                                                 const std::string& holder) override;

  // One lease operation on a blob (acquire with `id` proposed, renew, release), Lease Blob.
  absl::Status Lease(const std::string& path, const std::string& action, const std::string& id) {
    Call c{"PUT", Blob(path)};
    c.query = {{"comp", "lease"}};
    c.ms_headers["x-ms-lease-action"] = action;
    if (action == "acquire") {
      c.ms_headers["x-ms-lease-duration"] = std::to_string(options_.lease_s);
      c.ms_headers["x-ms-proposed-lease-id"] = id;
    } else {
      c.ms_headers["x-ms-lease-id"] = id;
    }
    return Send(c, Where(path), {200, 201}).status();
  }

  // Creates the container (201), or finds it there (409): both are success.
  absl::Status EnsureContainer() {
    Call c{"PUT", ""};
    c.query = {{"restype", "container"}};
    auto r = Send(c, uri_, {201, 409});
    return r.status();
  }

 private:
  std::string Blob(const std::string& path) const { return prefix_ + path; }
  std::string Where(const std::string& path) const { return uri_ + "/" + path; }

  absl::Status PutWhole(const std::string& path, std::string_view data, bool if_absent) {
    Call c{"PUT", Blob(path)};
    c.ms_headers["x-ms-blob-type"] = "BlockBlob";
    c.headers["Content-Type"] = "application/octet-stream";
    if (if_absent) c.headers["If-None-Match"] = "*";
    c.body = data;
    return Send(c, Where(path), {201}).status();
  }

  // Stages fixed-size blocks, then commits the list: readers see the old blob until then.
  absl::Status PutBlocks(const std::string& path, std::string_view data) {
    std::string list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    int index = 0;
    for (size_t at = 0; at < data.size(); at += options_.block_size, ++index) {
      const std::string id = azure::Base64Encode(fmt::format("block-{:08d}", index));
      Call c{"PUT", Blob(path)};
      c.query = {{"comp", "block"}, {"blockid", id}};
      c.body = data.substr(at, options_.block_size);
      MT_RETURN_IF_ERROR(Send(c, Where(path), {201}).status());
      list += "<Latest>" + id + "</Latest>";
    }
    list += "</BlockList>";
    Call commit{"PUT", Blob(path)};
    commit.query = {{"comp", "blocklist"}};
    commit.headers["Content-Type"] = "application/xml";
    commit.body = list;
    return Send(commit, Where(path), {201}).status();
  }

  std::string UrlPath(const std::string& blob) const {
    return blob.empty() ? container_path_
                        : container_path_ + "/" + azure::UrlEncode(blob, /*keep_slash=*/true);
  }

  absl::StatusOr<http::Request> Build(const Call& c) const {
    http::Request req;
    req.method = c.verb;
    req.timeout = options_.timeout;
    req.body = c.body;
    const std::string path = UrlPath(c.blob);
    req.url = origin_ + path;
    std::string query;
    for (const auto& [k, v] : c.query) {
      query += (query.empty() ? "" : "&") + k + "=" + azure::UrlEncode(v, false);
    }
    if (!creds_.sas.empty()) query += (query.empty() ? "" : "&") + creds_.sas;
    if (!query.empty()) req.url += "?" + query;
    azure::SignRequest s;
    s.verb = c.verb;
    s.url_path = path;
    s.query = c.query;
    s.headers = c.headers;
    s.ms_headers = c.ms_headers;
    s.ms_headers["x-ms-date"] = HttpDate();
    s.ms_headers["x-ms-version"] = kVersion;
    s.content_length = static_cast<int64_t>(c.body.size());
    for (const auto& [k, v] : s.headers) req.headers.push_back(k + ": " + v);
    for (const auto& [k, v] : s.ms_headers) req.headers.push_back(k + ": " + v);
    if (c.verb == "PUT" || c.verb == "DELETE") {
      req.headers.push_back(fmt::format("Content-Length: {}", c.body.size()));
    }
    if (!creds_.key.empty()) {
      MT_ASSIGN_OR_RETURN(std::string auth,
                          azure::SharedKeyAuthorization(creds_.account, creds_.key, s));
      req.headers.push_back("Authorization: " + auth);
    }
    return req;
  }

  // Sends with retries; `ok` lists the statuses that mean success.
  absl::StatusOr<http::Response> Send(const Call& c, const std::string& where,
                                      std::initializer_list<long> ok) {
    absl::Status last;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      MT_ASSIGN_OR_RETURN(http::Request req, Build(c));  // fresh date and signature
      auto r = client_.Send(req);
      std::chrono::milliseconds wait = Backoff(attempt);
      if (r.ok()) {
        if (std::find(ok.begin(), ok.end(), r->status) != ok.end()) return r;
        last = StatusFor(*r, where);
        if (!Transient(r->status)) return last;
        if (auto it = r->headers.find("retry-after"); it != r->headers.end()) {
          wait = std::max(wait, std::chrono::milliseconds(1000 * std::atoll(it->second.c_str())));
        }
      } else {
        last = absl::UnavailableError(
            Redact(fmt::format("{}: {}", where, std::string(r.status().message()))));
      }
      if (attempt < options_.max_attempts) {
        MT_LOG(kDebug, kData, "{} (attempt {} of {}); retrying in {} ms",
               std::string(last.message()), attempt, options_.max_attempts, wait.count());
        std::this_thread::sleep_for(wait);
      }
    }
    return absl::Status(
        last.code(),
        fmt::format("{} (after {} attempts)", std::string(last.message()), options_.max_attempts));
  }

  // Full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
  std::chrono::milliseconds Backoff(int attempt) {
    const int64_t cap = std::min<int64_t>(
        options_.max_backoff.count(), options_.base_backoff.count() << std::min(attempt - 1, 20));
    std::lock_guard<std::mutex> lock(rng_mu_);
    return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, cap)(rng_));
  }

  std::string uri_;
  AzureCredentials creds_;
  std::string container_, prefix_;  // prefix_ ends with '/' unless empty
  std::string origin_;              // "http://host:port" of the endpoint
  std::string container_path_;      // URL path of the container ("/ACCOUNT/c" on Azurite)
  AzureOptions options_;
  http::Client client_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

// A lease on a blob, renewed every third of its duration by a thread of its own (over its own
// connection), released at destruction. A lost lease (a renewal refused) is logged: the
// store's other writes do not depend on it.
class AzureHold final : public Hold {
 public:
  AzureHold(std::unique_ptr<AzureStore> store, std::string path, std::string id, int lease_s)
      : store_(std::move(store)), path_(std::move(path)), id_(std::move(id)) {
    renewer_ = std::thread([this, period = std::chrono::seconds(std::max(1, lease_s / 3))] {
      std::unique_lock<std::mutex> lock(mu_);
      while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
        if (absl::Status s = store_->Lease(path_, "renew", id_); !s.ok()) {
          MT_LOG(kError, kData, "lost the hold on {}/{}: {}", store_->uri(), path_,
                 std::string(s.message()));
        }
      }
    });
  }
  ~AzureHold() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    renewer_.join();
    if (absl::Status s = store_->Lease(path_, "release", id_); !s.ok()) {
      MT_LOG(kWarn, kData, "releasing the hold on {}/{}: {}", store_->uri(), path_,
             std::string(s.message()));
    }
  }

 private:
  std::unique_ptr<AzureStore> store_;
  std::string path_, id_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread renewer_;
};

std::string NewLeaseId() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  const uint64_t a = gen(), b = gen();
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                     b >> 48, b & 0xffffffffffffULL);
}

absl::StatusOr<std::unique_ptr<Hold>> AzureStore::TakeHold(const std::string& path,
                                                           const std::string& holder) {
  MT_RETURN_IF_ERROR(CheckPath(path));
  // The lease needs a blob: create it (it exists already when held before).
  if (absl::Status made = PutWhole(path, holder, /*if_absent=*/true);
      !made.ok() && made.code() != absl::StatusCode::kAlreadyExists) {
    return made;
  }
  const std::string id = NewLeaseId();
  if (absl::Status got = Lease(path, "acquire", id); !got.ok()) {
    if (got.code() != absl::StatusCode::kAlreadyExists) return got;  // 409: leased
    auto text = Get(path, 0, -1);
    return absl::FailedPreconditionError(fmt::format(
        "{} is held by {}", Where(path), text.ok() && !text->empty() ? *text : "another process"));
  }
  Call put{"PUT", Blob(path)};  // the holder's description, written under the lease
  put.ms_headers["x-ms-blob-type"] = "BlockBlob";
  put.ms_headers["x-ms-lease-id"] = id;
  put.headers["Content-Type"] = "text/plain";
  put.body = holder;
  if (auto r = Send(put, Where(path), {201}); !r.ok()) {
    (void)Lease(path, "release", id);
    return r.status();
  }
  auto own = std::make_unique<AzureStore>(uri_, creds_, container_, prefix_, options_);
  return std::unique_ptr<Hold>(new AzureHold(std::move(own), path, id, options_.lease_s));
}

// "k1=v1;k2=v2" (values may contain '=').
std::map<std::string, std::string> ParseConnectionString(const std::string& s) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(';', start);
    if (end == std::string::npos) end = s.size();
    const std::string part = s.substr(start, end - start);
    const auto eq = part.find('=');
    if (eq != std::string::npos) out[part.substr(0, eq)] = part.substr(eq + 1);
    start = end + 1;
  }
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::string Redact(std::string text) {
  static const std::regex kSecrets("(sig=|AccountKey=|SharedKey [^:\\s]+:)[^&;\\s\"']+");
  return std::regex_replace(text, kSecrets, "$1REDACTED");
}

absl::StatusOr<AzureCredentials> AzureCredentialsFromEnv(const std::string& account) {
  AzureCredentials c;
  c.account = account;
  c.endpoint = fmt::format("https://{}.blob.core.windows.net", account);
  if (const std::string cs = Env("AZURE_STORAGE_CONNECTION_STRING"); !cs.empty()) {
    auto kv = ParseConnectionString(cs);
    if (!kv["AccountName"].empty() && kv["AccountName"] != account) {
      return absl::InvalidArgumentError(
          fmt::format("AZURE_STORAGE_CONNECTION_STRING is for account '{}', the URI names '{}'",
                      kv["AccountName"], account));
    }
    c.key = kv["AccountKey"];
    c.sas = kv["SharedAccessSignature"];
    if (!kv["BlobEndpoint"].empty()) c.endpoint = kv["BlobEndpoint"];
  } else if (Env("AZURE_STORAGE_ACCOUNT") == account) {
    c.key = Env("AZURE_STORAGE_KEY");
    c.sas = Env("AZURE_STORAGE_SAS_TOKEN");
  }
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (!c.sas.empty() && c.sas.front() == '?') c.sas.erase(0, 1);
  if (c.key.empty() && c.sas.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "no credentials for storage account '{}': set AZURE_STORAGE_CONNECTION_STRING, or "
        "AZURE_STORAGE_ACCOUNT={} with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN",
        account, account));
  }
  return c;
}

absl::StatusOr<AzureCredentials> AzureCredentialsForUri(const std::string& uri) {
  if (!uri.starts_with("az://")) {
    return absl::InvalidArgumentError(fmt::format("'{}' is not an az:// URI", uri));
  }
  return AzureCredentialsFromEnv(uri.substr(5, uri.find('/', 5) - 5));
}

absl::StatusOr<std::unique_ptr<BlobStore>> OpenAzureStore(const std::string& uri,
                                                          AzureCredentials credentials,
                                                          AzureOptions options) {
  static const std::regex kUri("az://([a-z0-9]{3,24})/([a-z0-9][a-z0-9-]{2,62})(/(.*))?");
  std::smatch m;
  if (!std::regex_match(uri, m, kUri)) {
    return absl::InvalidArgumentError(fmt::format(
        "'{}' is not az://ACCOUNT/CONTAINER[/PREFIX] (account 3-24 lowercase letters and "
        "digits, container 3-63 lowercase letters, digits and '-')",
        uri));
  }
  std::string prefix = m[4];
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!prefix.empty()) prefix += "/";
  std::string clean = fmt::format("az://{}/{}", std::string(m[1]), std::string(m[2]));
  if (!prefix.empty()) clean += "/" + prefix.substr(0, prefix.size() - 1);
  return std::unique_ptr<BlobStore>(
      new AzureStore(clean, std::move(credentials), m[2], prefix, options));
}

absl::Status EnsureContainer(const std::string& uri) {
  if (!uri.starts_with("az://")) return absl::OkStatus();
  MT_ASSIGN_OR_RETURN(AzureCredentials creds, AzureCredentialsForUri(uri));
  absl::Status made = CreateAzureContainer(uri, creds);
  return made.code() == absl::StatusCode::kPermissionDenied ? absl::OkStatus() : made;
}

absl::Status CreateAzureContainer(const std::string& uri, AzureCredentials credentials,
                                  AzureOptions options) {
  MT_ASSIGN_OR_RETURN(auto store, OpenAzureStore(uri, std::move(credentials), options));
  return static_cast<AzureStore*>(store.get())->EnsureContainer();
}

absl::StatusOr<std::string> MakeAccountSas(const AzureCredentials& c,
                                           const std::string& permissions,
                                           const std::string& expiry) {
  // Account SAS, signed version 2019-12-12 (string-to-sign without an encryption scope).
  const std::string version = "2019-12-12";
  const std::string to_sign = fmt::format("{}\n{}\nb\nsco\n\n{}\n\nhttps,http\n{}\n", c.account,
                                          permissions, expiry, version);
  auto key = azure::Base64Decode(c.key);
  if (!key.ok()) return absl::InvalidArgumentError("the storage account key is not base64");
  const std::string sig = azure::Base64Encode(azure::HmacSha256(*key, to_sign));
  return fmt::format("sv={}&ss=b&srt=sco&sp={}&se={}&spr=https,http&sig={}", version, permissions,
                     azure::UrlEncode(expiry, false), azure::UrlEncode(sig, false));
}

}  // namespace mt::storage

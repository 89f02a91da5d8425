// libcurl HTTP client (see http.h).
#include "runtime/storage/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "fmt/format.h"

namespace mt::storage::http {
namespace {

// The body, sized once from Content-Length (the headers arrive first): no regrowth copies.
size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* resp = static_cast<Response*>(user);
  if (resp->body.empty()) {
    if (auto it = resp->headers.find("content-length"); it != resp->headers.end()) {
      resp->body.reserve(static_cast<size_t>(std::strtoull(it->second.c_str(), nullptr, 10)));
    }
  }
  resp->body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
      value.erase(0, 1);
    }
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
      value.pop_back();
    }
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * n;
}

struct Upload {
  std::string_view body;
  size_t offset = 0;
};

size_t OnRead(char* out, size_t size, size_t n, void* user) {
  auto* up = static_cast<Upload*>(user);
  const size_t len = std::min(size * n, up->body.size() - up->offset);
  std::copy_n(up->body.data() + up->offset, len, out);
  up->offset += len;
  return len;
}

std::once_flag g_init;

}  // namespace

Client::Client() {
  std::call_once(g_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Client::~Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* Client::Acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.empty()) return curl_easy_init();
  void* h = idle_.back();
  idle_.pop_back();
  return h;
}

void Client::Release(void* h) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(h);
}

absl::StatusOr<Response> Client::Send(const Request& r) {
  CURL* curl = static_cast<CURL*>(Acquire());
  curl_easy_reset(curl);  // keeps the connection cache
  Response resp;
  Upload upload{r.body};
  curl_slist* headers = nullptr;
  for (const auto& h : r.headers) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count() * 1000));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp.headers);
  if (r.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (r.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  } else if (r.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    const std::string why = error[0] ? error : curl_easy_strerror(rc);
    curl_easy_cleanup(curl);  // a broken connection is not reused
    return absl::UnavailableError(fmt::format("{} ({})", why, static_cast<int>(rc)));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  Release(curl);
  return resp;
}

}  // namespace mt::storage::http

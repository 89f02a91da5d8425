// One HTTP exchange over libcurl, with connection reuse (a pool of easy handles: each keeps
// its connections alive) and no retry policy of its own (azure_store.cc has it).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::storage::http {

struct Request {
  std::string method;  // GET, PUT, HEAD, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // not owned: must outlive Send()
  std::chrono::seconds timeout{60};
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

class Client {
 public:
  Client();
  ~Client();
  // Transport failures (connect, reset, timeout, truncated body) are Unavailable with curl's
  // reason; any HTTP status is a Response.
  absl::StatusOr<Response> Send(const Request& request);

 private:
  void* Acquire();
  void Release(void* handle);
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles
};

}  // namespace mt::storage::http

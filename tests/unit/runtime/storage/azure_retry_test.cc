// Retries of the az:// store against a scripted loopback HTTP server: 503 with Retry-After,
// a reset mid-body, a truncated body, then success; a permanent 500 gives up after the
// configured attempts; a 404 is not retried. (Azurite cannot inject faults; the data issue's
// fault proxy sits in front of it for the loader tests.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "runtime/storage/azure_store.h"

namespace mt::storage {
namespace {

// Answers each connection's requests with the next scripted raw response; "" closes the
// connection without answering (a reset).
class ScriptedServer {
 public:
  explicit ScriptedServer(std::deque<std::string> script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      while (true) {
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = read(c, buf, sizeof(buf));
          if (n <= 0) break;
          request.append(buf, n);
        }
        if (request.empty()) break;
        ++requests_;
        std::string reply;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (script_.empty()) break;
          reply = script_.front();
          script_.pop_front();
        }
        if (reply.empty()) break;  // reset: close without answering
        (void)!write(c, reply.data(), reply.size());
        if (reply.find("Connection: close") != std::string::npos) break;
      }
      close(c);
    }
  }
  std::mutex mu_;
  std::deque<std::string> script_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

std::string Reply(int status, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

std::unique_ptr<BlobStore> StoreFor(const ScriptedServer& server, int attempts) {
  AzureCredentials c{"acct", "a2V5", "", "http://127.0.0.1:" + std::to_string(server.port())};
  AzureOptions o;
  o.max_attempts = attempts;
  o.base_backoff = std::chrono::milliseconds(1);
  o.timeout = std::chrono::seconds(5);
  return std::move(*OpenAzureStore("az://acct/data", c, o));
}

TEST(AzureRetry, TransientFailuresAreRetriedUntilSuccess) {
  ScriptedServer server({
      Reply(503, "", "Retry-After: 1\r\n"),                                       // throttled
      "",                                                                         // reset
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234",  // truncated
      Reply(500, ""),
      Reply(200, "0123456789"),
  });
  auto store = StoreFor(server, 6);
  const auto t0 = std::chrono::steady_clock::now();
  auto got = store->Get("shard");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "0123456789");
  EXPECT_EQ(server.requests(), 5);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900))
      << "Retry-After: 1 was not honoured";
}

TEST(AzureRetry, PermanentServerErrorGivesUpNamingTheAttempts) {
  ScriptedServer server({Reply(500, ""), Reply(500, ""), Reply(500, ""), Reply(500, "")});
  auto store = StoreFor(server, 3);
  auto got = store->Get("shard");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("after 3 attempts"), std::string::npos) << got.status();
  EXPECT_NE(got.status().message().find("az://acct/data/shard"), std::string::npos);
  EXPECT_EQ(server.requests(), 3);
}

TEST(AzureRetry, ClientErrorsAreNotRetried) {
  ScriptedServer server({Reply(404,
                               "<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code>"
                               "<Message>The specified blob does not exist.</Message></Error>"),
                         Reply(200, "never")});
  auto store = StoreFor(server, 5);
  auto got = store->Get("shard");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find("BlobNotFound"), std::string::npos) << got.status();
  EXPECT_EQ(server.requests(), 1);
}

}  // namespace
}  // namespace mt::storage

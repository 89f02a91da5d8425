// Talking to a coordinator: the worker's calls (Join, Heartbeat, Finish), the operator's
// (GetStatus), and GrpcStore, the comm::Store that backends bootstrap through in production.
// Every call has a deadline; failures come back as Status naming the call and the address.
// Thread safety: a client may be used from many threads (gRPC channels and stubs are).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "meshtrain/v1/coordinator.grpc.pb.h"
#include "runtime/comm/store.h"
#include "runtime/rpc/security.h"

namespace mt::coord {

namespace v1 = meshtrain::v1;

struct ClientOptions {
  std::string address;          // host:port
  std::string token;            // bearer token; empty: none
  rpc::TlsFiles tls;            // ca (and cert + key for mTLS); empty: plaintext
  double rpc_timeout_s = 10;    // deadline of calls that do not block by design
  bool own_connection = false;  // do not share the TCP connection with other clients (bench)
};

// Fills address, token and TLS files from MT_COORDINATOR, MT_COORDINATOR_TOKEN_FILE,
// MT_TLS_CA / MT_TLS_CERT / MT_TLS_KEY.
absl::StatusOr<ClientOptions> ClientOptionsFromEnv();

// A worker's heartbeat stream (HeartbeatStream RPC): one request, one reply, on a stream kept
// open across beats and reopened when it broke or reached its lifetime. Not thread-safe: one
// heartbeat thread owns it.
class HeartbeatChannel {
 public:
  HeartbeatChannel(std::shared_ptr<v1::Coordinator::Stub> stub, ClientOptions options,
                   double lifetime_s);
  ~HeartbeatChannel();
  // Sends one heartbeat. With request.want_reply() it waits for the answer (blocks up to the
  // stream's remaining life) and returns it; otherwise it returns nullopt at once. A STOP_*
  // the coordinator sent for an unacknowledged beat is what the next asking Beat returns.
  absl::StatusOr<std::optional<v1::HeartbeatReply>> Beat(const v1::HeartbeatRequest& request);
  // Ends a Beat blocked in another thread (it fails with CANCELLED). Thread-safe.
  void Cancel();

 private:
  absl::Status Open();
  absl::Status Close();
  std::shared_ptr<v1::Coordinator::Stub> stub_;
  ClientOptions options_;
  double lifetime_s_;
  std::mutex mu_;  // guards context_ against Cancel() from another thread
  bool cancelled_ = false;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::HeartbeatRequest, v1::HeartbeatReply>> stream_;
};

class CoordinatorClient {
 public:
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Connect(const ClientOptions& options);

  // Blocks up to `timeout_s` (the rendezvous timeout plus a margin).
  absl::StatusOr<v1::JoinReply> Join(const v1::JoinRequest& request, double timeout_s);
  // One unary heartbeat (tools, tests); workers use OpenHeartbeats().
  absl::StatusOr<v1::HeartbeatReply> Heartbeat(const v1::HeartbeatRequest& request);
  // A heartbeat stream whose calls last at most `lifetime_s` (then it is reopened).
  std::unique_ptr<HeartbeatChannel> OpenHeartbeats(double lifetime_s = 300);
  absl::Status Finish(const v1::FinishRequest& request);
  absl::StatusOr<v1::CheckpointReply> ReportCheckpoint(const v1::CheckpointReport& report);
  absl::StatusOr<v1::JobStatus> GetStatus(const std::string& job_id = "");
  // A Store over this coordinator for `job_id`; keys are used as given (wrap it in a
  // PrefixStore with the generation's prefix). It shares the connection and may outlive
  // this client.
  std::shared_ptr<comm::Store> Store(const std::string& job_id);

  const ClientOptions& options() const { return options_; }
  v1::Coordinator::Stub& stub() { return *stub_; }

 private:
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<v1::Coordinator::Stub> stub_;
};

}  // namespace mt::coord

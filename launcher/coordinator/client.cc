// Coordinator client and the gRPC Store (see client.h).
#include "launcher/coordinator/client.h"

#include "fmt/format.h"
#include "runtime/core/params.h"
#include "runtime/core/status.h"

namespace mt::coord {
namespace {

// comm::Store over the coordinator's Store RPCs. Blocking calls give the server the caller's
// timeout and wait a little longer for its answer, so the server's DeadlineExceeded (which
// names the missing keys) is what the caller sees.
class GrpcStore final : public comm::Store {
 public:
  GrpcStore(std::shared_ptr<v1::Coordinator::Stub> stub, ClientOptions options, std::string job_id)
      : stub_(std::move(stub)), options_(std::move(options)), job_id_(std::move(job_id)) {}

  absl::Status Set(const std::string& key, const std::string& value) override {
    v1::StoreSetRequest req;
    req.set_job_id(job_id_);
    req.set_key(key);
    req.set_value(value);
    v1::StoreSetReply reply;
    grpc::ClientContext ctx;
    Prepare(ctx, 0);
    return rpc::FromGrpc(stub_->StoreSet(&ctx, req, &reply), Where("StoreSet"));
  }

  absl::StatusOr<std::string> Get(const std::string& key, comm::Millis timeout) override {
    v1::StoreGetRequest req;
    req.set_job_id(job_id_);
    req.set_key(key);
    req.set_timeout_ms(timeout.count());
    v1::StoreGetReply reply;
    grpc::ClientContext ctx;
    Prepare(ctx, timeout.count());
    MT_RETURN_IF_ERROR(rpc::FromGrpc(stub_->StoreGet(&ctx, req, &reply), Where("StoreGet")));
    return reply.value();
  }

  absl::Status Wait(const std::vector<std::string>& keys, comm::Millis timeout) override {
    v1::StoreWaitRequest req;
    req.set_job_id(job_id_);
    for (const auto& k : keys) req.add_keys(k);
    req.set_timeout_ms(timeout.count());
    v1::StoreWaitReply reply;
    grpc::ClientContext ctx;
    Prepare(ctx, timeout.count());
    return rpc::FromGrpc(stub_->StoreWait(&ctx, req, &reply), Where("StoreWait"));
  }

  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) override {
    v1::StoreAddRequest req;
    req.set_job_id(job_id_);
    req.set_key(key);
    req.set_delta(delta);
    v1::StoreAddReply reply;
    grpc::ClientContext ctx;
    Prepare(ctx, 0);
    MT_RETURN_IF_ERROR(rpc::FromGrpc(stub_->StoreAdd(&ctx, req, &reply), Where("StoreAdd")));
    return reply.value();
  }

  absl::StatusOr<std::string> CompareSet(const std::string& key, const std::string& expected,
                                         const std::string& desired) override {
    v1::StoreCompareSetRequest req;
    req.set_job_id(job_id_);
    req.set_key(key);
    req.set_expected(expected);
    req.set_desired(desired);
    v1::StoreCompareSetReply reply;
    grpc::ClientContext ctx;
    Prepare(ctx, 0);
    MT_RETURN_IF_ERROR(
        rpc::FromGrpc(stub_->StoreCompareSet(&ctx, req, &reply), Where("StoreCompareSet")));
    return reply.value();
  }

 private:
  void Prepare(grpc::ClientContext& ctx, int64_t blocking_ms) {
    rpc::PrepareContext(ctx, options_.token, options_.rpc_timeout_s + blocking_ms / 1000.0);
  }
  std::string Where(const char* call) const {
    return fmt::format("coordinator {} {}", options_.address, call);
  }

  std::shared_ptr<v1::Coordinator::Stub> stub_;  // shared: the store may outlive its client
  ClientOptions options_;
  std::string job_id_;
};

}  // namespace

absl::StatusOr<ClientOptions> ClientOptionsFromEnv() {
  ClientOptions o;
  o.address = params::Coordinator();
  if (o.address.empty()) {
    return absl::InvalidArgumentError(
        "MT_COORDINATOR is not set: the coordinator's host:port is needed (the launchers set "
        "it; in Kubernetes it names the coordinator Service)");
  }
  if (!params::CoordinatorTokenFile().empty()) {
    MT_ASSIGN_OR_RETURN(o.token, rpc::ReadTokenFile(params::CoordinatorTokenFile()));
  }
  o.tls.ca = params::TlsCa();
  o.tls.cert = params::TlsCert();
  o.tls.key = params::TlsKey();
  return o;
}

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(
    const ClientOptions& options) {
  MT_ASSIGN_OR_RETURN(auto creds, rpc::MakeChannelCredentials(options.tls));
  auto c = std::unique_ptr<CoordinatorClient>(new CoordinatorClient());
  c->options_ = options;
  grpc::ChannelArguments args;
  if (options.own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  c->channel_ = grpc::CreateCustomChannel(options.address, creds, args);
  c->stub_ = v1::Coordinator::NewStub(c->channel_);
  return c;
}

absl::StatusOr<v1::JoinReply> CoordinatorClient::Join(const v1::JoinRequest& request,
                                                      double timeout_s) {
  grpc::ClientContext ctx;
  rpc::PrepareContext(ctx, options_.token, timeout_s);
  ctx.set_wait_for_ready(true);  // the coordinator may still be starting
  v1::JoinReply reply;
  MT_RETURN_IF_ERROR(rpc::FromGrpc(stub_->Join(&ctx, request, &reply),
                                   fmt::format("coordinator {} Join", options_.address)));
  return reply;
}

absl::StatusOr<v1::HeartbeatReply> CoordinatorClient::Heartbeat(const v1::HeartbeatRequest& r) {
  grpc::ClientContext ctx;
  rpc::PrepareContext(ctx, options_.token, options_.rpc_timeout_s);
  v1::HeartbeatReply reply;
  MT_RETURN_IF_ERROR(rpc::FromGrpc(stub_->Heartbeat(&ctx, r, &reply),
                                   fmt::format("coordinator {} Heartbeat", options_.address)));
  return reply;
}

absl::Status CoordinatorClient::Finish(const v1::FinishRequest& r) {
  grpc::ClientContext ctx;
  rpc::PrepareContext(ctx, options_.token, options_.rpc_timeout_s);
  v1::FinishReply reply;
  return rpc::FromGrpc(stub_->Finish(&ctx, r, &reply),
                       fmt::format("coordinator {} Finish", options_.address));
}

absl::StatusOr<v1::CheckpointReply> CoordinatorClient::ReportCheckpoint(
    const v1::CheckpointReport& r) {
  grpc::ClientContext ctx;
  // The commit writes the manifest to storage: allow for a slow blob service.
  rpc::PrepareContext(ctx, options_.token, std::max(options_.rpc_timeout_s, 120.0));
  v1::CheckpointReply reply;
  MT_RETURN_IF_ERROR(
      rpc::FromGrpc(stub_->ReportCheckpoint(&ctx, r, &reply),
                    fmt::format("coordinator {} ReportCheckpoint", options_.address)));
  return reply;
}

absl::StatusOr<v1::JobStatus> CoordinatorClient::GetStatus(const std::string& job_id) {
  grpc::ClientContext ctx;
  rpc::PrepareContext(ctx, options_.token, options_.rpc_timeout_s);
  v1::StatusRequest req;
  req.set_job_id(job_id);
  v1::JobStatus reply;
  MT_RETURN_IF_ERROR(rpc::FromGrpc(stub_->GetStatus(&ctx, req, &reply),
                                   fmt::format("coordinator {} GetStatus", options_.address)));
  return reply;
}

// ---- heartbeat stream ----

HeartbeatChannel::HeartbeatChannel(std::shared_ptr<v1::Coordinator::Stub> stub,
                                   ClientOptions options, double lifetime_s)
    : stub_(std::move(stub)), options_(std::move(options)), lifetime_s_(lifetime_s) {}

HeartbeatChannel::~HeartbeatChannel() {
  // Answers we did not read would hold Finish() until the deadline: cancel, then finish.
  Cancel();
  (void)Close();
}

void HeartbeatChannel::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (context_) context_->TryCancel();
}

absl::Status HeartbeatChannel::Open() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return absl::CancelledError("heartbeats cancelled");
  context_ = std::make_unique<grpc::ClientContext>();
  rpc::PrepareContext(*context_, options_.token, lifetime_s_);
  stream_ = stub_->HeartbeatStream(context_.get());
  return absl::OkStatus();
}

absl::Status HeartbeatChannel::Close() {
  if (!stream_) return absl::OkStatus();
  stream_->WritesDone();
  v1::HeartbeatReply unread;
  while (stream_->Read(&unread)) {
  }  // drain: Finish() waits for every message to be read
  grpc::Status s = stream_->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  stream_.reset();
  context_.reset();
  return rpc::FromGrpc(s, fmt::format("coordinator {} HeartbeatStream", options_.address));
}

absl::StatusOr<std::optional<v1::HeartbeatReply>> HeartbeatChannel::Beat(
    const v1::HeartbeatRequest& request) {
  // Two tries: a stream that ended (its lifetime, a coordinator restart) is reopened once.
  absl::Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!stream_) MT_RETURN_IF_ERROR(Open());
    v1::HeartbeatReply reply;
    if (stream_->Write(request)) {
      if (!request.want_reply()) return std::nullopt;
      if (stream_->Read(&reply)) return reply;
    }
    last = Close();
    if (last.ok()) last = absl::UnavailableError("heartbeat stream closed by the coordinator");
    if (last.code() == absl::StatusCode::kUnauthenticated ||
        last.code() == absl::StatusCode::kCancelled ||
        last.code() == absl::StatusCode::kFailedPrecondition ||
        last.code() == absl::StatusCode::kInvalidArgument) {
      break;  // a refusal, not a broken stream
    }
  }
  return last;
}

std::unique_ptr<HeartbeatChannel> CoordinatorClient::OpenHeartbeats(double lifetime_s) {
  return std::make_unique<HeartbeatChannel>(stub_, options_, lifetime_s);
}

std::shared_ptr<comm::Store> CoordinatorClient::Store(const std::string& job_id) {
  return std::make_shared<GrpcStore>(stub_, options_, job_id);
}

}  // namespace mt::coord

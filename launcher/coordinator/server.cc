// The coordinator's gRPC service (see server.h).
#include "launcher/coordinator/server.h"

#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "fmt/format.h"
#include "meshtrain/v1/coordinator.grpc.pb.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/rpc/listen.h"

namespace mt::coord {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

SteadyTime DeadlineIn(int64_t timeout_ms) {
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms));
}

// One worker's heartbeat stream: read a request, answer it, read the next.
class HeartbeatReactor final
    : public grpc::ServerBidiReactor<v1::HeartbeatRequest, v1::HeartbeatReply> {
 public:
  HeartbeatReactor(std::shared_ptr<Coordinator> c, grpc::Status admitted) : c_(std::move(c)) {
    if (!admitted.ok()) {
      Finish(admitted);
      return;
    }
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {  // the worker closed its side (or the call broke)
      Finish(grpc::Status::OK);
      return;
    }
    auto r = c_->Heartbeat(request_);
    if (!r.ok()) {
      Finish(rpc::ToGrpc(r.status()));
      return;
    }
    if (r->action() == v1::CONTINUE && !request_.want_reply()) {
      StartRead(&request_);  // nothing to say: no write
      return;
    }
    reply_ = std::move(*r);
    StartWrite(&reply_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "heartbeat reply could not be sent"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<Coordinator> c_;
  v1::HeartbeatRequest request_;
  v1::HeartbeatReply reply_;
};

class Service final : public v1::Coordinator::CallbackService {
 public:
  Service(std::shared_ptr<Coordinator> c, std::string token)
      : c_(std::move(c)), token_(std::move(token)) {}

  ServerUnaryReactor* Join(CallbackServerContext* ctx, const v1::JoinRequest* req,
                           v1::JoinReply* reply) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Admit(ctx, reactor)) return reactor;
    c_->Join(*req, [reactor, reply](absl::StatusOr<v1::JoinReply> r) {
      if (r.ok()) *reply = std::move(*r);
      reactor->Finish(rpc::ToGrpc(r.status()));
    });
    return reactor;
  }

  ServerUnaryReactor* Heartbeat(CallbackServerContext* ctx, const v1::HeartbeatRequest* req,
                                v1::HeartbeatReply* reply) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Admit(ctx, reactor)) return reactor;
    auto r = c_->Heartbeat(*req);
    if (r.ok()) *reply = std::move(*r);
    reactor->Finish(rpc::ToGrpc(r.status()));
    return reactor;
  }

  grpc::ServerBidiReactor<v1::HeartbeatRequest, v1::HeartbeatReply>* HeartbeatStream(
      CallbackServerContext* ctx) override {
    grpc::Status admitted = rpc::CheckToken(*ctx, token_);
    if (!admitted.ok()) {
      MT_LOG(kWarn, kCoord, "refused a call from {}: {}", ctx->peer(), admitted.error_message());
    }
    return new HeartbeatReactor(c_, admitted);
  }

  ServerUnaryReactor* Finish(CallbackServerContext* ctx, const v1::FinishRequest* req,
                             v1::FinishReply*) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Admit(ctx, reactor)) return reactor;
    reactor->Finish(rpc::ToGrpc(c_->Finish(*req)));
    return reactor;
  }

  ServerUnaryReactor* ReportCheckpoint(CallbackServerContext* ctx, const v1::CheckpointReport* req,
                                       v1::CheckpointReply* reply) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Admit(ctx, reactor)) return reactor;
    auto r = c_->ReportCheckpoint(*req);
    if (r.ok()) *reply = *r;
    reactor->Finish(rpc::ToGrpc(r.status()));
    return reactor;
  }

  ServerUnaryReactor* GetStatus(CallbackServerContext* ctx, const v1::StatusRequest* req,
                                v1::JobStatus* reply) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!Admit(ctx, reactor)) return reactor;
    if (!req->job_id().empty()) {
      if (absl::Status s = c_->CheckJob(req->job_id()); !s.ok()) {
        reactor->Finish(rpc::ToGrpc(s));
        return reactor;
      }
    }
    *reply = c_->Status();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  ServerUnaryReactor* StoreSet(CallbackServerContext* ctx, const v1::StoreSetRequest* req,
                               v1::StoreSetReply*) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!AdmitJob(ctx, reactor, req->job_id())) return reactor;
    c_->kv().Set(req->key(), req->value());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  ServerUnaryReactor* StoreGet(CallbackServerContext* ctx, const v1::StoreGetRequest* req,
                               v1::StoreGetReply* reply) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!AdmitJob(ctx, reactor, req->job_id())) return reactor;
    c_->kv().Get(req->key(), DeadlineIn(req->timeout_ms()),
                 [reactor, reply](absl::StatusOr<std::string> v) {
                   if (v.ok()) reply->set_value(std::move(*v));
                   reactor->Finish(rpc::ToGrpc(v.status()));
                 });
    return reactor;
  }

  ServerUnaryReactor* StoreWait(CallbackServerContext* ctx, const v1::StoreWaitRequest* req,
                                v1::StoreWaitReply*) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!AdmitJob(ctx, reactor, req->job_id())) return reactor;
    std::vector<std::string> keys(req->keys().begin(), req->keys().end());
    c_->kv().Wait(keys, DeadlineIn(req->timeout_ms()),
                  [reactor](absl::Status s) { reactor->Finish(rpc::ToGrpc(s)); });
    return reactor;
  }

  ServerUnaryReactor* StoreAdd(CallbackServerContext* ctx, const v1::StoreAddRequest* req,
                               v1::StoreAddReply* reply) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!AdmitJob(ctx, reactor, req->job_id())) return reactor;
    auto v = c_->kv().Add(req->key(), req->delta());
    if (v.ok()) reply->set_value(*v);
    reactor->Finish(rpc::ToGrpc(v.status()));
    return reactor;
  }

  ServerUnaryReactor* StoreCompareSet(CallbackServerContext* ctx,
                                      const v1::StoreCompareSetRequest* req,
                                      v1::StoreCompareSetReply* reply) override {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!AdmitJob(ctx, reactor, req->job_id())) return reactor;
    reply->set_value(c_->kv().CompareSet(req->key(), req->expected(), req->desired()));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  // Token check; on refusal finishes the call and returns false.
  bool Admit(CallbackServerContext* ctx, ServerUnaryReactor* reactor) {
    grpc::Status s = rpc::CheckToken(*ctx, token_);
    if (s.ok()) return true;
    MT_LOG(kWarn, kCoord, "refused a call from {}: {}", ctx->peer(), s.error_message());
    reactor->Finish(s);
    return false;
  }
  bool AdmitJob(CallbackServerContext* ctx, ServerUnaryReactor* reactor, const std::string& job) {
    if (!Admit(ctx, reactor)) return false;
    if (absl::Status s = c_->CheckJob(job); !s.ok()) {
      reactor->Finish(rpc::ToGrpc(s));
      return false;
    }
    return true;
  }

  std::shared_ptr<Coordinator> c_;
  std::string token_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Host(
    CoordinatorConfig config, std::shared_ptr<comm::Store> state, const ServerOptions& options) {
  if (state == nullptr && !config.data_audit_path.empty()) {
    std::remove(config.data_audit_path.c_str());  // a new run's audit starts empty
  }
  MT_ASSIGN_OR_RETURN(std::unique_ptr<Coordinator> made,
                      Coordinator::Create(std::move(config), std::move(state)));
  return Start(std::move(made), options);
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    std::shared_ptr<Coordinator> coordinator, const ServerOptions& options) {
  // Debian builds Abseil with Mutex deadlock detection on; every lock gRPC takes then updates
  // a global lock graph (about a tenth of the coordinator's CPU under 1024 heartbeats/s,
  // measured with perf). Detection is a debugging aid: off in the serving process.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  MT_ASSIGN_OR_RETURN(auto creds, rpc::MakeServerCredentials(options.tls));
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer());
  s->coordinator_ = coordinator;
  s->service_ = std::make_unique<Service>(coordinator, options.token);
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.RegisterService(s->service_.get());
  MT_ASSIGN_OR_RETURN(
      s->server_, rpc::BuildAndListen(builder, options.listen, creds, "coordinator", s->address_));
  const auto period = std::chrono::milliseconds(std::clamp<int64_t>(
      static_cast<int64_t>(coordinator->config().heartbeat_s * 1000 / 20), 5, 100));
  s->ticker_ = std::thread([raw = s.get(), period] {
    while (!raw->stop_.load()) {
      raw->coordinator_->Tick();
      std::this_thread::sleep_for(period);
    }
  });
  if (!options.metrics_listen.empty()) {
    MT_ASSIGN_OR_RETURN(s->exporter_,
                        metrics::HttpExporter::Start(options.metrics_listen, [coordinator] {
                          return coordinator->PrometheusText();
                        }));
    MT_LOG(kInfo, kCoord, "Prometheus metrics on http://{}/metrics", s->exporter_->address());
  }
  MT_LOG(kInfo, kCoord, "coordinator for job {} listening on {}{}{}", coordinator->config().job_id,
         s->address_, options.tls.cert.empty() ? "" : " (TLS)",
         options.token.empty() ? "" : " (bearer token required)");
  return s;
}

void CoordinatorServer::Shutdown() {
  if (stop_.exchange(true)) return;
  exporter_.reset();
  if (ticker_.joinable()) ticker_.join();
  if (!server_) return;  // never started
  coordinator_->Close();
  coordinator_->kv().FailAll(absl::UnavailableError("the coordinator is shutting down"));
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

}  // namespace mt::coord

// gRPC side of `kvasir bench serve` (bench_serve_client.h): one channel (one
// HTTP/2 connection, as a gRPC client application has) shared by every
// worker; each worker runs blocking GenerateStream calls on it.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "kvasir/v1/generation.grpc.pb.h"
#include "tools/bench_serve_client.h"

namespace kvasir::tools {
namespace {

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

void Prepare(const std::string& api_key, double timeout_s,
             grpc::ClientContext* ctx) {
  if (!api_key.empty()) ctx->AddMetadata("authorization", "Bearer " + api_key);
  ctx->set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6)));
}

class GrpcSession final : public BenchSession {
 public:
  GrpcSession(std::shared_ptr<grpc::Channel> channel, double timeout_s)
      : stub_(v1::Generation::NewStub(channel)), timeout_s_(timeout_s) {}

  BenchResult Run(const BenchRequest& request,
                  std::atomic<int64_t>* live_tokens) override {
    v1::GenerateRequest r;
    if (!request.token_ids.empty()) {
      r.mutable_token_ids()->mutable_ids()->Add(request.token_ids.begin(),
                                                request.token_ids.end());
    } else {
      r.set_text(request.text);
    }
    r.mutable_stopping()->set_max_new_tokens(request.max_tokens);
    r.mutable_stopping()->set_ignore_eos(request.ignore_eos);
    // Token ids in every message: the exact count of tokens per message.
    r.mutable_response()->set_token_ids(true);

    BenchResult result;
    TokenTimer timer(&result, live_tokens);
    grpc::ClientContext ctx;
    Prepare(request.api_key, timeout_s_, &ctx);
    timer.Sent(BenchClock::now());
    std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
        stub_->GenerateStream(&ctx, r);
    v1::GenerateResponse m;
    while (reader->Read(&m)) {
      const BenchClock::time_point now = BenchClock::now();
      timer.Arrived(now, m.token_ids_size());
      if (m.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
        result.prompt_tokens = m.usage().prompt_tokens();
        result.output_tokens = m.usage().generated_tokens();
      }
    }
    const grpc::Status status = reader->Finish();
    timer.Ended(BenchClock::now());
    if (!status.ok()) {
      result.ok = false;
      result.status = CodeName(status.error_code());
      result.error = status.error_message();
    } else if (result.output_tokens != timer.tokens_seen()) {
      result.ok = false;
      result.status = "MISMATCH";
      result.error =
          absl::StrCat("usage.generated_tokens ", result.output_tokens, " but ",
                       timer.tokens_seen(), " token ids streamed");
    } else {
      result.ok = true;
    }
    return result;
  }

 private:
  std::unique_ptr<v1::Generation::Stub> stub_;
  double timeout_s_;
};

class GrpcClient final : public BenchClient {
 public:
  GrpcClient(const std::string& addr, double timeout_s)
      : addr_(addr),
        channel_(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials())),
        timeout_s_(timeout_s) {}

  absl::StatusOr<ServerFacts> Preflight(
      const std::vector<std::string>& api_keys) override {
    auto stub = v1::Generation::NewStub(channel_);
    const std::vector<std::string> keys =
        api_keys.empty() ? std::vector<std::string>{""} : api_keys;
    ServerFacts facts;
    for (size_t i = 0; i < keys.size(); ++i) {
      grpc::ClientContext ctx;
      Prepare(keys[i], /*timeout_s=*/10, &ctx);
      v1::ModelInfoResponse info;
      const grpc::Status s =
          stub->ModelInfo(&ctx, v1::ModelInfoRequest(), &info);
      if (!s.ok()) {
        const std::string who =
            s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                ? absl::StrCat("server ", addr_)
            : api_keys.empty() ? std::string("no --api-key")
                               : absl::StrCat("--api-key #", i + 1);
        return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                            absl::StrCat(who, ": ", CodeName(s.error_code()),
                                         ": ", s.error_message()));
      }
      facts.vocab_size = info.vocab_size();
      facts.context_length = info.context_length();
      facts.model = info.name();
    }
    return facts;
  }

  std::unique_ptr<BenchSession> NewSession() override {
    return std::make_unique<GrpcSession>(channel_, timeout_s_);
  }

 private:
  std::string addr_;
  std::shared_ptr<grpc::Channel> channel_;
  double timeout_s_;
};

}  // namespace

std::unique_ptr<BenchClient> MakeGrpcBenchClient(const std::string& addr,
                                                 double timeout_s) {
  return std::make_unique<GrpcClient>(addr, timeout_s);
}

}  // namespace kvasir::tools

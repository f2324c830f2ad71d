#include "tests/soak/soak_load.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/client_context.h"
#include "kvasir/v1/generation.grpc.pb.h"

namespace kvasir::soak {
namespace {

// Story openings; long prompts repeat one of them a few times, so that
// calls share prefixes and the prefix cache serves (and evicts) blocks.
constexpr const char* kOpenings[] = {
    "Once upon a time, there was a little girl named Lily.",
    "One day, a big dog found a red ball in the park.",
    "Tom and Sue liked to play in the garden with their cat.",
    "The sun was shining and the birds were singing in the trees.",
};

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "OTHER";
  }
}

double Uniform(std::mt19937& rng) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

int32_t Between(std::mt19937& rng, int32_t lo, int32_t hi) {
  return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
}

}  // namespace

Load::Load(LoadOptions options) : options_(std::move(options)) {}

Load::~Load() { Stop(); }

void Load::Start() {
  for (int i = 0; i < options_.workers; ++i) {
    threads_.emplace_back([this, i] { Worker(i); });
  }
}

void Load::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

LoadTotals Load::Totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

void Load::Worker(int index) {
  std::mt19937 rng(options_.seed * 7919u + static_cast<uint32_t>(index));
  while (!stop_) Record(RunOne(rng));
}

void Load::Record(const CallRecord& r) {
  absl::MutexLock lock(&mu_);
  ++totals_.calls;
  totals_.streams += r.stream;
  ++totals_.by_status[r.status];
  if (r.status == "OK") {
    (r.is_long ? totals_.ok_long_s : totals_.ok_short_s).push_back(r.seconds);
  }
  totals_.example_message.emplace(r.status, r.message);
}

CallRecord Load::RunOne(std::mt19937& rng) {
  CallRecord rec;
  rec.stream = Uniform(rng) < 0.5;
  rec.is_long = Uniform(rng) < options_.long_fraction;
  const double what = Uniform(rng);
  const bool cancel = what < options_.cancel_fraction;
  const bool tight_deadline =
      !cancel && what < options_.cancel_fraction + options_.deadline_fraction;

  v1::GenerateRequest request;
  const char* opening = kOpenings[Between(rng, 0, 3)];
  std::string text = opening;
  if (rec.is_long) {
    for (int i = Between(rng, 1, 4); i > 0; --i)
      absl::StrAppend(&text, " ", opening);
  }
  absl::StrAppend(&text, " ", Between(rng, 0, 999));
  request.set_text(text);
  request.mutable_stopping()->set_max_new_tokens(
      rec.is_long ? Between(rng, 100, options_.long_max_tokens)
                  : Between(rng, 1, options_.short_max_tokens));
  request.mutable_stopping()->set_ignore_eos(Uniform(rng) < 0.5);
  request.mutable_sampling()->set_temperature(Uniform(rng) < 0.5 ? 0.0f : 0.8f);

  grpc::ClientContext ctx;
  const std::string& key = options_.api_keys[Between(
      rng, 0, static_cast<int32_t>(options_.api_keys.size()) - 1)];
  ctx.AddMetadata("authorization", "Bearer " + key);
  ctx.set_deadline(std::chrono::system_clock::now() +
                   (tight_deadline ? std::chrono::milliseconds(5)
                                   : std::chrono::milliseconds(300000)));
  auto stub = v1::Generation::NewStub(options_.channel);
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status;
  if (rec.stream) {
    // Cancelled after 0..8 messages (0: before any arrives).
    const int cancel_after = cancel ? Between(rng, 0, 8) : -1;
    std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
        stub->GenerateStream(&ctx, request);
    v1::GenerateResponse message;
    int read = 0;
    if (cancel_after == 0) ctx.TryCancel();
    while (reader->Read(&message)) {
      if (++read == cancel_after) ctx.TryCancel();
    }
    status = reader->Finish();
  } else {
    v1::GenerateResponse response;
    absl::Notification done;
    stub->async()->Generate(&ctx, &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    if (cancel) {
      // 0..50 ms in: before admission, mid-prefill or mid-decode.
      done.WaitForNotificationWithTimeout(
          absl::Milliseconds(Between(rng, 0, 50)));
      ctx.TryCancel();
    }
    done.WaitForNotification();
  }
  rec.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  rec.status = CodeName(status.error_code());
  rec.message = status.error_message();
  return rec;
}

}  // namespace kvasir::soak

// `kvasir bench serve`'s driver: checks the options, asks the server what
// it serves, builds the requests, runs them on worker threads (closed loop
// at --concurrency, or open loop at Poisson --rate arrivals), shows
// progress, and reports (bench_serve_report.h).
#include "tools/bench_serve.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/bench_serve_client.h"
#include "tools/bench_serve_report.h"
#include "tools/bench_serve_workload.h"
#include "tools/bench_stats.h"

namespace kvasir::tools {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
// Vocabulary bound of random prompts over HTTP when none is given.
constexpr int32_t kHttpDefaultVocab = 259;
// A rate-mode request sent this much after its arrival time is "late".
constexpr double kLateS = 0.010;

absl::Status CheckOptions(const BenchServeOptions& o) {
  auto bad = [](auto... parts) {
    return absl::InvalidArgumentError(absl::StrCat(parts...));
  };
  if (o.protocol != "grpc" && o.protocol != "http") {
    return bad("--protocol '", o.protocol, "' must be grpc or http");
  }
  if (o.requests < 0 || (o.requests == 0 && o.prompts_file.empty())) {
    return bad("--requests ", o.requests, " must be >= 1");
  }
  if (o.rate < 0) return bad("--rate ", o.rate, " must be > 0");
  if (o.rate == 0 && o.concurrency < 1) {
    return bad("--concurrency ", o.concurrency, " must be >= 1");
  }
  if (o.rate > 0 && o.max_in_flight < 1) {
    return bad("--max-in-flight ", o.max_in_flight, " must be >= 1");
  }
  if (o.prompt_len < 1)
    return bad("--prompt-len ", o.prompt_len, " must be >= 1");
  if (o.gen_len < 1) return bad("--gen-len ", o.gen_len, " must be >= 1");
  if (o.vocab_size != 0 && o.vocab_size < 4) {
    return bad("--vocab-size ", o.vocab_size, " must be >= 4 (or 0: ask)");
  }
  if (!(o.timeout_s > 0)) return bad("--timeout ", o.timeout_s, " must be > 0");
  if (o.progress != "auto" && o.progress != "bar" && o.progress != "lines" &&
      o.progress != "off") {
    return bad("--progress '", o.progress, "' must be auto, bar, lines or off");
  }
  if (!(o.progress_interval_s > 0)) {
    return bad("--progress-interval ", o.progress_interval_s, " must be > 0");
  }
  for (size_t i = 0; i < o.api_keys.size(); ++i) {
    if (o.api_keys[i].empty()) return bad("--api-key #", i + 1, " is empty");
  }
  return absl::OkStatus();
}

double CpuSeconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) +
         static_cast<double>(tv.tv_usec) * 1e-6;
}

double Seconds(BenchClock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Counters the workers update and the progress display reads.
struct Progress {
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> tokens{0};
  std::mutex mu;
  std::condition_variable all_done;
};

// Shows progress on `err` until `p.done` reaches `total`: a bar redrawn in
// place (`bar`) or a plain line every `interval_s` (`lines`).
void ShowProgress(Progress& p, int64_t total, bool bar, double interval_s,
                  BenchClock::time_point start, std::ostream& err) {
  const auto period =
      bar ? std::chrono::milliseconds(200)
          : std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1e3));
  std::unique_lock<std::mutex> lock(p.mu);
  while (true) {
    const bool finished = p.all_done.wait_for(
        lock, period, [&] { return p.done.load() >= total; });
    const int64_t done = p.done.load();
    const double elapsed = Seconds(BenchClock::now() - start);
    const double tps =
        elapsed > 0 ? static_cast<double>(p.tokens.load()) / elapsed : 0;
    if (bar) {
      constexpr int kWidth = 30;
      const int filled =
          static_cast<int>(kWidth * done / std::max<int64_t>(total, 1));
      err << "\r[" << std::string(static_cast<size_t>(filled), '#')
          << std::string(static_cast<size_t>(kWidth - filled), '.') << "] "
          << absl::StrFormat("%d/%d  failed %d  %.1f s  %.0f tokens/s  ", done,
                             total, p.failed.load(), elapsed, tps)
          << std::flush;
      if (finished) err << "\n";
    } else if (!finished) {
      err << absl::StrFormat(
                 "bench serve: %d/%d requests done (%d failed), %.1f s, %.1f "
                 "output tokens/s\n",
                 done, total, p.failed.load(), elapsed, tps)
          << std::flush;
    }
    if (finished) return;
  }
}

}  // namespace

int RunBenchServe(const BenchServeOptions& options, std::ostream& out,
                  std::ostream& err) {
  BenchServeOptions o = options;
  auto fail = [&](int code, absl::string_view message) {
    err << "kvasir bench serve: " << message << "\n";
    return code;
  };
  if (absl::Status s = CheckOptions(o); !s.ok()) {
    return fail(kExitUsage, s.message());
  }
  if (o.addr.empty()) {
    o.addr = o.protocol == "grpc" ? "127.0.0.1:50051" : "127.0.0.1:8080";
  }
  std::vector<PromptSpec> prompts;
  if (!o.prompts_file.empty()) {
    absl::StatusOr<std::vector<PromptSpec>> read =
        ReadPromptsFile(o.prompts_file, o.gen_len);
    if (!read.ok()) return fail(kExitUsage, read.status().message());
    prompts = *std::move(read);
  }
  const int32_t n =
      o.requests > 0 ? o.requests : static_cast<int32_t>(prompts.size());

  std::unique_ptr<BenchClient> client;
  if (o.protocol == "grpc") {
    client = MakeGrpcBenchClient(o.addr, o.timeout_s);
  } else {
    absl::StatusOr<std::unique_ptr<BenchClient>> http =
        MakeHttpBenchClient(o.addr, o.timeout_s);
    if (!http.ok()) return fail(kExitUsage, http.status().message());
    client = *std::move(http);
  }
  absl::StatusOr<ServerFacts> facts = client->Preflight(o.api_keys);
  if (!facts.ok()) return fail(kExitFailed, facts.status().message());

  if (prompts.empty()) {
    if (facts->context_length > 0 &&
        o.prompt_len + o.gen_len > facts->context_length) {
      return fail(
          kExitUsage,
          absl::StrCat("--prompt-len ", o.prompt_len, " + --gen-len ",
                       o.gen_len, " exceeds the model's context length ",
                       facts->context_length));
    }
    const int32_t vocab = o.vocab_size > 0         ? o.vocab_size
                          : facts->vocab_size >= 4 ? facts->vocab_size
                                                   : kHttpDefaultVocab;
    prompts = RandomPrompts(std::min(n, 100000), o.prompt_len, o.gen_len, vocab,
                            o.seed);
  }
  std::vector<BenchRequest> requests(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    BenchRequest& r = requests[static_cast<size_t>(i)];
    const PromptSpec& p = prompts[static_cast<size_t>(i) % prompts.size()];
    r.token_ids = p.token_ids;
    r.text = p.text;
    r.max_tokens = p.max_tokens;
    r.ignore_eos = !o.stop_at_eos;
    if (!o.api_keys.empty()) r.api_key = o.api_keys[i % o.api_keys.size()];
  }

  const bool rate_mode = o.rate > 0;
  std::vector<double> arrivals;
  if (rate_mode) arrivals = PoissonArrivals(n, o.rate, o.seed);
  const int32_t workers =
      std::min(n, rate_mode ? o.max_in_flight : o.concurrency);

  std::vector<BenchResult> results(static_cast<size_t>(n));
  Progress progress;
  std::atomic<int32_t> next{0};
  std::atomic<int64_t> late{0};
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const BenchClock::time_point start = BenchClock::now();

  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(workers));
  for (int32_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      std::unique_ptr<BenchSession> session = client->NewSession();
      while (true) {
        const int32_t i = next.fetch_add(1);
        if (i >= n) return;
        if (rate_mode) {
          const auto at =
              start + std::chrono::duration_cast<BenchClock::duration>(
                          std::chrono::duration<double>(
                              arrivals[static_cast<size_t>(i)]));
          std::this_thread::sleep_until(at);
          if (Seconds(BenchClock::now() - at) > kLateS) late.fetch_add(1);
        }
        BenchResult r =
            session->Run(requests[static_cast<size_t>(i)], &progress.tokens);
        if (!r.ok) progress.failed.fetch_add(1);
        results[static_cast<size_t>(i)] = std::move(r);
        {
          std::lock_guard<std::mutex> lock(progress.mu);
          progress.done.fetch_add(1);
        }
        progress.all_done.notify_all();
      }
    });
  }
  const bool tty = isatty(STDERR_FILENO) == 1;
  if (o.progress != "off") {
    const bool bar = o.progress == "bar" || (o.progress == "auto" && tty);
    ShowProgress(progress, n, bar, o.progress_interval_s, start, err);
  }
  for (std::thread& t : threads) t.join();

  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  BenchClock::time_point end = start;
  for (const BenchResult& r : results) {
    end =
        std::max(end, r.sent + std::chrono::duration_cast<BenchClock::duration>(
                                   std::chrono::duration<double>(r.e2e_s)));
  }

  RunFacts f;
  f.protocol = o.protocol;
  f.addr = o.addr;
  f.model = facts->model;
  f.mode = rate_mode ? "rate" : "concurrency";
  f.concurrency = o.concurrency;
  f.rate = o.rate;
  f.max_in_flight = o.max_in_flight;
  f.late_starts = late.load();
  f.prompt_len = o.prompt_len;
  f.gen_len = o.gen_len;
  f.prompts_file = o.prompts_file;
  f.ignore_eos = !o.stop_at_eos;
  f.seed = o.seed;
  f.duration_s = Seconds(end - start);
  f.cpu_user_s = CpuSeconds(after.ru_utime) - CpuSeconds(before.ru_utime);
  f.cpu_sys_s = CpuSeconds(after.ru_stime) - CpuSeconds(before.ru_stime);
  const nlohmann::ordered_json report = ReportJson(f, results, o.api_keys);
  if (o.json) {
    out << report.dump(-1, ' ', false,
                       nlohmann::ordered_json::error_handler_t::replace)
        << "\n";
  } else {
    PrintReport(report, out);
  }
  const int64_t failed = report["total"]["failed"].get<int64_t>();
  if (failed > 0) {
    std::string statuses;
    for (const auto& [status, message] : report["total"]["errors"].items()) {
      absl::StrAppend(&statuses, statuses.empty() ? "" : "; ", status, ": ",
                      message.get<std::string>());
    }
    return fail(kExitFailed, absl::StrCat(failed, " of ", n,
                                          " requests failed (", statuses, ")"));
  }
  return 0;
}

}  // namespace kvasir::tools

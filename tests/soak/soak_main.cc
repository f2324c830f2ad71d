// `make soak` (not part of CI): the real `kvasir serve` with two tenants
// whose KV budgets bind, under a mix of short and long, streaming and unary
// calls with client cancels and 5 ms deadlines (soak_load.h), while the
// tenants' budgets are reloaded every few seconds. Checks, printed and
// turned into the exit code (0: all held):
//   - the server never exits (no crash) and drains to exit 0 on SIGTERM;
//   - every call ends with an expected status (kExpectedStatuses);
//   - no tenant ever takes blocks above its limit (GetStats every 100 ms,
//     see LimitWatch), and the pool's blocks always add up;
//   - once idle, no KV block is in use;
//   - resident memory after warm-up (the first 20%) grows < 5%.
// Prints calls, statuses, p50/p99 latency and RSS over time.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/live_server.h"
#include "tests/soak/soak_load.h"

namespace kvasir::soak {
namespace {

using integration::ConfigSpec;
using integration::FindTenant;
using integration::LiveServer;

// OK; CANCELLED (the client cancelled); DEADLINE_EXCEEDED (5 ms
// deadlines); RESOURCE_EXHAUSTED (a tenant's queue is full, or a request
// can never fit in a limit a reload has just shrunk).
const std::set<std::string> kExpectedStatuses = {
    "OK", "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"};

// Budget sets the reloader cycles through (stories260K: 20 KiB blocks of
// 16 tokens; capacity 1600 KiB = 80 blocks). The sum of floors fits; the
// limits bind: long requests (up to ~500 tokens, 32 blocks) do not all fit
// at once, and beta's 400 KiB (20 blocks) refuses the longest.
struct Budgets {
  const char* alpha_reserved;
  const char* alpha_limit;
  const char* beta_reserved;
  const char* beta_limit;
};
constexpr Budgets kBudgets[] = {
    {"320KiB", "1200KiB", "160KiB", "800KiB"},
    {"160KiB", "600KiB", "320KiB", "1200KiB"},
    {"200KiB", "1000KiB", "200KiB", "400KiB"},
};

ConfigSpec SoakConfig(const std::string& model, int preset) {
  ConfigSpec spec = integration::TwoTenantConfig();
  if (!model.empty()) spec.model = model;
  spec.capacity = "1600KiB";
  spec.max_running = 16;
  spec.drain_timeout = "30s";
  const Budgets& b = kBudgets[preset];
  spec.tenants[0].reserved = b.alpha_reserved;
  spec.tenants[0].limit = b.alpha_limit;
  spec.tenants[0].max_queued = 8;
  spec.tenants[1].reserved = b.beta_reserved;
  spec.tenants[1].limit = b.beta_limit;
  spec.tenants[1].max_queued = 8;
  return spec;
}

// VmRSS of `pid` in bytes; -1 when unreadable.
int64_t ResidentBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    int64_t kb = 0;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits += c;
    }
    if (absl::SimpleAtoi(digits, &kb)) return kb * 1024;
  }
  return -1;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  return v[i];
}

// Polls GetStats and flags a tenant that takes blocks above its limit: used
// > limit while used grew since the last poll and the limit did not shrink
// in between (a reload that shrinks a limit may leave a tenant above it;
// it then gets no new blocks and is preempted first, so its use only
// falls). Also checks free + cached + used == total.
class LimitWatch {
 public:
  void Check(const v1::GetStatsResponse& s) {
    ++polls_;
    int64_t used_sum = 0;
    for (const v1::TenantStats& t : s.tenants()) {
      used_sum += t.kv_used_blocks();
      Prev& p = prev_[t.name()];
      if (t.kv_used_blocks() > t.kv_limit_blocks()) {
        ++over_samples_;
        if (p.seen && t.kv_used_blocks() > p.used &&
            t.kv_limit_blocks() >= p.limit) {
          Fail(absl::StrCat("tenant ", t.name(),
                            " took blocks above its limit: ", p.used, " -> ",
                            t.kv_used_blocks(), " blocks, limit ",
                            t.kv_limit_blocks()));
        }
      }
      p = {true, t.kv_used_blocks(), t.kv_limit_blocks()};
    }
    // Distinct blocks: a prefix block shared by two tenants' sequences is
    // impossible (prefixes never cross tenants), so the tenants' sum is the
    // pool's used count.
    const int64_t pool_used =
        s.total_blocks() - s.free_blocks() - s.cached_blocks();
    if (pool_used != used_sum) {
      Fail(absl::StrCat("blocks do not add up: total ", s.total_blocks(),
                        " - free ", s.free_blocks(), " - cached ",
                        s.cached_blocks(), " != tenants' used ", used_sum));
    }
  }
  int64_t polls() const { return polls_; }
  int64_t over_samples() const { return over_samples_; }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  struct Prev {
    bool seen = false;
    int64_t used = 0;
    int64_t limit = 0;
  };
  void Fail(std::string what) {
    if (failures_.size() < 20) failures_.push_back(std::move(what));
  }
  std::map<std::string, Prev> prev_;
  int64_t polls_ = 0;
  int64_t over_samples_ = 0;
  std::vector<std::string> failures_;
};

struct Flags {
  double seconds = 600;
  std::string model;
  int workers = 12;
  double reload_every_s = 3;
  double report_every_s = 60;
  double warmup_fraction = 0.2;
  double max_rss_growth = 0.05;
};

int Run(const Flags& flags) {
  std::vector<std::string> failures;
  absl::StatusOr<std::unique_ptr<LiveServer>> started =
      LiveServer::Start(SoakConfig(flags.model, 0));
  if (!started.ok()) {
    std::fprintf(stderr, "soak: the server did not start: %s\n",
                 started.status().ToString().c_str());
    return 1;
  }
  LiveServer& server = **started;
  const pid_t pid = server.process().pid();
  std::printf(
      "soak: server pid %d on %s, %.0f s, %d workers, reload every "
      "%.0f s\n",
      pid, server.address().c_str(), flags.seconds, flags.workers,
      flags.reload_every_s);

  LoadOptions lo;
  lo.channel = integration::Channel(server.address());
  lo.api_keys = {integration::kAlphaKey, integration::kBetaKey};
  lo.workers = flags.workers;
  Load load(lo);

  std::atomic<bool> stop{false};
  LimitWatch watch;
  int64_t stats_errors = 0;
  std::thread poller([&] {
    while (!stop) {
      absl::StatusOr<v1::GetStatsResponse> s = server.Stats();
      if (s.ok()) {
        watch.Check(*s);
      } else {
        ++stats_errors;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  });
  int64_t reloads_ok = 0;
  std::vector<std::string> reload_errors;
  std::thread reloader([&] {
    for (int i = 1; !stop; ++i) {
      const absl::Time next = absl::Now() + absl::Seconds(flags.reload_every_s);
      while (!stop && absl::Now() < next)
        absl::SleepFor(absl::Milliseconds(50));
      if (stop) break;
      server.WriteConfig(
          integration::ConfigYaml(SoakConfig(flags.model, i % 3)));
      auto ctx =
          integration::Context(integration::kAdminKey, absl::Seconds(30));
      v1::ReloadConfigResponse r;
      const grpc::Status st = server.Admin()->ReloadConfig(
          ctx.get(), v1::ReloadConfigRequest(), &r);
      if (st.ok()) {
        ++reloads_ok;
      } else if (reload_errors.size() < 5) {
        reload_errors.push_back(st.error_message());
      }
    }
  });

  load.Start();
  const absl::Time begin = absl::Now();
  const absl::Duration total = absl::Seconds(flags.seconds);
  const absl::Time warm = begin + total * flags.warmup_fraction;
  int64_t rss_at_warm = -1, rss_max_after = -1, rss_first = -1;
  absl::Time next_report = begin;
  bool crashed = false;
  while (absl::Now() < begin + total) {
    if (!server.process().Running()) {
      crashed = true;
      break;
    }
    const int64_t rss = ResidentBytes(pid);
    const absl::Time now = absl::Now();
    if (rss_first < 0) rss_first = rss;
    if (now >= warm) {
      if (rss_at_warm < 0) rss_at_warm = rss;
      rss_max_after = std::max(rss_max_after, rss);
    }
    if (now >= next_report) {
      const LoadTotals t = load.Totals();
      std::printf("soak: t=%4.0fs calls=%lld rss=%.1f MB%s\n",
                  absl::ToDoubleSeconds(now - begin),
                  static_cast<long long>(t.calls), rss / 1048576.0,
                  now >= warm ? "" : " (warm-up)");
      std::fflush(stdout);
      next_report = now + absl::Seconds(flags.report_every_s);
    }
    absl::SleepFor(absl::Seconds(1));
  }
  load.Stop();
  stop = true;
  poller.join();
  reloader.join();

  if (crashed || !server.process().Running()) {
    failures.push_back("the server exited during the run:\n" +
                       server.process().ReadLog().substr(0, 4000));
  }
  // Idle: every block comes back (cancelled calls end within a step).
  v1::GetStatsResponse idle;
  const bool drained = integration::WaitUntil([&] {
    absl::StatusOr<v1::GetStatsResponse> s = server.Stats();
    if (!s.ok()) return false;
    idle = *s;
    if (idle.running() != 0 || idle.queued() != 0) return false;
    for (const v1::TenantStats& t : idle.tenants()) {
      if (t.kv_used_blocks() != 0) return false;
    }
    return true;
  });
  if (!drained) {
    failures.push_back("KV blocks still in use once idle: " +
                       idle.ShortDebugString());
  }
  const int64_t rss_end = ResidentBytes(pid);

  const LoadTotals t = load.Totals();
  std::printf("\nsoak: %lld calls (%lld streams, %lld unary) in %.0f s\n",
              static_cast<long long>(t.calls),
              static_cast<long long>(t.streams),
              static_cast<long long>(t.calls - t.streams), flags.seconds);
  for (const auto& [status, n] : t.by_status) {
    const bool expected = kExpectedStatuses.count(status) > 0;
    std::printf("  %-20s %8lld%s\n", status.c_str(), static_cast<long long>(n),
                expected ? "" : "  UNEXPECTED");
    if (!expected) {
      failures.push_back(absl::StrCat(n, " calls ended ", status, ": ",
                                      t.example_message.at(status)));
    }
  }
  std::printf(
      "  latency of OK calls: short p50 %.3f s p99 %.3f s (%zu), "
      "long p50 %.3f s p99 %.3f s (%zu)\n",
      Percentile(t.ok_short_s, 0.5), Percentile(t.ok_short_s, 0.99),
      t.ok_short_s.size(), Percentile(t.ok_long_s, 0.5),
      Percentile(t.ok_long_s, 0.99), t.ok_long_s.size());
  std::printf(
      "  reloads: %lld ok, %zu failed; stats polls %lld (%lld "
      "failed), samples over a (just shrunk) limit %lld\n",
      static_cast<long long>(reloads_ok), reload_errors.size(),
      static_cast<long long>(watch.polls()),
      static_cast<long long>(stats_errors),
      static_cast<long long>(watch.over_samples()));
  for (const std::string& e : reload_errors) {
    failures.push_back("reload failed: " + e);
  }
  for (const std::string& f : watch.failures()) failures.push_back(f);
  if (stats_errors > 0) {
    failures.push_back(absl::StrCat(stats_errors, " GetStats calls failed"));
  }
  const double growth =
      rss_at_warm > 0
          ? static_cast<double>(rss_max_after - rss_at_warm) / rss_at_warm
          : 0;
  std::printf(
      "  rss: start %.1f MB, after warm-up %.1f MB, max after %.1f "
      "MB, end %.1f MB: growth %.2f%% (limit %.0f%%)\n",
      rss_first / 1048576.0, rss_at_warm / 1048576.0, rss_max_after / 1048576.0,
      rss_end / 1048576.0, growth * 100, flags.max_rss_growth * 100);
  if (rss_at_warm > 0 && growth >= flags.max_rss_growth) {
    failures.push_back(
        absl::StrCat("resident memory grew ", growth * 100, "% after warm-up"));
  }

  // SIGTERM while idle: drains and exits 0.
  if (server.process().Running()) {
    (void)server.process().Signal(SIGTERM);
    absl::StatusOr<int> code = server.process().Wait(absl::Seconds(60));
    if (!code.ok() || *code != 0) {
      failures.push_back(absl::StrCat(
          "SIGTERM: the server did not exit 0: ",
          code.ok() ? absl::StrCat("exit ", *code) : code.status().ToString()));
    }
  }
  if (failures.empty()) {
    std::printf("soak: PASS\n");
    return 0;
  }
  for (const std::string& f : failures)
    std::printf("soak: FAIL: %s\n", f.c_str());
  return 1;
}

}  // namespace
}  // namespace kvasir::soak

int main(int argc, char** argv) {
  kvasir::soak::Flags flags;
  if (const char* env = std::getenv("SOAK_SECONDS"); env != nullptr) {
    flags.seconds = std::atof(env);
  }
  CLI::App app(
      "Kvasir soak: the real server under mixed load with budget "
      "reloads; exit 0 when every check held");
  app.add_option("--seconds", flags.seconds,
                 "How long to drive the server (default $SOAK_SECONDS or 600)")
      ->check(CLI::PositiveNumber);
  app.add_option("--model", flags.model,
                 "model.path for the server (default: "
                 "../shared/models/stories260K.gguf)");
  app.add_option("--workers", flags.workers, "Concurrent client calls")
      ->check(CLI::Range(1, 256));
  app.add_option("--reload-every", flags.reload_every_s,
                 "Seconds between budget reloads")
      ->check(CLI::PositiveNumber);
  app.add_option("--report-every", flags.report_every_s,
                 "Seconds between progress (RSS) lines")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-rss-growth", flags.max_rss_growth,
                 "Allowed RSS growth after warm-up, as a fraction")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  return kvasir::soak::Run(flags);
}

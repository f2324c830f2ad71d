#include "tools/bench_serve_report.h"

#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/bench_stats.h"

namespace kvasir::tools {
namespace {

using Json = nlohmann::ordered_json;

Json DistributionJson(std::vector<double> seconds) {
  for (double& s : seconds) s *= 1e3;
  const Distribution d = Summarize(std::move(seconds));
  Json j;
  j["count"] = d.count;
  j["mean"] = d.mean;
  j["min"] = d.min;
  j["p50"] = d.p50;
  j["p90"] = d.p90;
  j["p99"] = d.p99;
  j["max"] = d.max;
  return j;
}

double PerSecond(double count, double seconds) {
  return seconds > 0 ? count / seconds : 0;
}

}  // namespace

Json GroupJson(const std::vector<const BenchResult*>& results,
               double duration_s) {
  int64_t ok = 0;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  int64_t chunks = 0;
  std::map<std::string, int64_t> failed;
  std::map<std::string, std::string> first_error;
  std::vector<double> ttft, itl, e2e, tpot;
  for (const BenchResult* r : results) {
    if (!r->ok) {
      ++failed[r->status];
      first_error.emplace(r->status, r->error);
      continue;
    }
    ++ok;
    prompt_tokens += r->prompt_tokens;
    output_tokens += r->output_tokens;
    chunks += r->chunks;
    if (r->output_tokens > 0) ttft.push_back(r->ttft_s);
    itl.insert(itl.end(), r->itl_s.begin(), r->itl_s.end());
    e2e.push_back(r->e2e_s);
    if (r->output_tokens > 1) {
      tpot.push_back((r->e2e_s - r->ttft_s) /
                     static_cast<double>(r->output_tokens - 1));
    }
  }
  Json j;
  j["requests"] = static_cast<int64_t>(results.size());
  j["ok"] = ok;
  j["failed"] = static_cast<int64_t>(results.size()) - ok;
  j["failed_by_status"] = failed;
  j["errors"] = first_error;
  j["prompt_tokens"] = prompt_tokens;
  j["output_tokens"] = output_tokens;
  j["stream_chunks"] = chunks;
  j["requests_per_s"] = PerSecond(static_cast<double>(ok), duration_s);
  j["output_tokens_per_s"] =
      PerSecond(static_cast<double>(output_tokens), duration_s);
  j["ttft_ms"] = DistributionJson(std::move(ttft));
  j["itl_ms"] = DistributionJson(std::move(itl));
  j["e2e_ms"] = DistributionJson(std::move(e2e));
  j["tpot_ms"] = DistributionJson(std::move(tpot));
  return j;
}

Json ReportJson(const RunFacts& f, const std::vector<BenchResult>& results,
                const std::vector<std::string>& api_keys) {
  Json j;
  j["protocol"] = f.protocol;
  j["addr"] = f.addr;
  j["model"] = f.model;
  j["mode"] = f.mode;
  if (f.mode == "rate") {
    j["rate"] = f.rate;
    j["max_in_flight"] = f.max_in_flight;
    j["late_starts"] = f.late_starts;
  } else {
    j["concurrency"] = f.concurrency;
  }
  j["requests"] = static_cast<int64_t>(results.size());
  if (f.prompts_file.empty()) {
    j["prompt_len"] = f.prompt_len;
    j["gen_len"] = f.gen_len;
  } else {
    j["prompts_file"] = f.prompts_file;
  }
  j["ignore_eos"] = f.ignore_eos;
  j["seed"] = f.seed;
  j["tenants_count"] = std::max<size_t>(api_keys.size(), 1);
  j["duration_s"] = f.duration_s;
  const double cpu = f.cpu_user_s + f.cpu_sys_s;
  j["client_cpu"] = {{"user_s", f.cpu_user_s},
                     {"sys_s", f.cpu_sys_s},
                     {"cores", f.duration_s > 0 ? cpu / f.duration_s : 0}};
  std::vector<const BenchResult*> all;
  for (const BenchResult& r : results) all.push_back(&r);
  j["total"] = GroupJson(all, f.duration_s);
  if (api_keys.size() > 1) {
    Json tenants = Json::array();
    for (size_t k = 0; k < api_keys.size(); ++k) {
      std::vector<const BenchResult*> mine;
      for (size_t i = k; i < results.size(); i += api_keys.size()) {
        mine.push_back(&results[i]);
      }
      Json t;
      t["key_index"] = k + 1;
      t["key_prefix"] = api_keys[k].substr(0, 4);
      t.update(GroupJson(mine, f.duration_s));
      tenants.push_back(std::move(t));
    }
    j["tenants"] = std::move(tenants);
  }
  return j;
}

namespace {

void PrintGroup(const Json& g, std::ostream& out) {
  out << absl::StrFormat("requests      %d ok, %d failed\n",
                         g["ok"].get<int64_t>(), g["failed"].get<int64_t>());
  for (const auto& [status, count] : g["failed_by_status"].items()) {
    out << absl::StrFormat("  %-12s %d: %s\n", status, count.get<int64_t>(),
                           g["errors"][status].get<std::string>());
  }
  out << absl::StrFormat(
      "throughput    %.2f requests/s, %.1f output tokens/s (%d tokens in "
      "%d chunks)\n",
      g["requests_per_s"].get<double>(), g["output_tokens_per_s"].get<double>(),
      g["output_tokens"].get<int64_t>(), g["stream_chunks"].get<int64_t>());
  out << absl::StrFormat("%-12s %9s %9s %9s %9s %9s\n", "latency (ms)", "p50",
                         "p90", "p99", "mean", "max");
  for (const char* name : {"ttft_ms", "itl_ms", "e2e_ms", "tpot_ms"}) {
    const Json& d = g[name];
    const std::string label =
        std::string(name).substr(0, std::string(name).size() - 3);
    out << absl::StrFormat("  %-10s %9.2f %9.2f %9.2f %9.2f %9.2f\n", label,
                           d["p50"].get<double>(), d["p90"].get<double>(),
                           d["p99"].get<double>(), d["mean"].get<double>(),
                           d["max"].get<double>());
  }
}

}  // namespace

void PrintReport(const Json& j, std::ostream& out) {
  out << "server        " << j["protocol"].get<std::string>() << " "
      << j["addr"].get<std::string>();
  if (!j["model"].get<std::string>().empty()) {
    out << ", model " << j["model"].get<std::string>();
  }
  out << "\n";
  std::string load =
      j["mode"] == "rate"
          ? absl::StrFormat(
                "rate %.2f requests/s (Poisson, seed %d), at most "
                "%d in flight, %d late starts",
                j["rate"].get<double>(), j["seed"].get<uint64_t>(),
                j["max_in_flight"].get<int64_t>(),
                j["late_starts"].get<int64_t>())
          : absl::StrFormat("concurrency %d", j["concurrency"].get<int64_t>());
  std::string work =
      j.contains("prompts_file")
          ? absl::StrCat("prompts from ", j["prompts_file"].get<std::string>())
          : absl::StrFormat("prompt %d, gen %d tokens",
                            j["prompt_len"].get<int64_t>(),
                            j["gen_len"].get<int64_t>());
  out << absl::StrFormat("workload      %d requests, %s, %s%s, %d tenant(s)\n",
                         j["requests"].get<int64_t>(), load, work,
                         j["ignore_eos"].get<bool>() ? " (ignore_eos)" : "",
                         j["tenants_count"].get<int64_t>());
  const Json& cpu = j["client_cpu"];
  out << absl::StrFormat(
      "duration      %.2f s; client CPU %.2f s user + %.2f s sys = %.2f "
      "cores\n",
      j["duration_s"].get<double>(), cpu["user_s"].get<double>(),
      cpu["sys_s"].get<double>(), cpu["cores"].get<double>());
  out << "-- total\n";
  PrintGroup(j["total"], out);
  if (j.contains("tenants")) {
    for (const Json& t : j["tenants"]) {
      out << absl::StrFormat("-- tenant #%d (key %s...)\n",
                             t["key_index"].get<int64_t>(),
                             t["key_prefix"].get<std::string>());
      PrintGroup(t, out);
    }
  }
}

}  // namespace kvasir::tools

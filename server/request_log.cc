#include "server/request_log.h"

#include <algorithm>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "nlohmann/json.hpp"
#include "server/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

std::string StatusCodeName(const absl::Status& s) {
  return absl::StatusCodeToString(s.code());
}

// `v` in double quotes, C-escaped (quotes, backslashes, control bytes;
// UTF-8 kept): a client's text cannot end the value and forge the fields
// after it.
std::string LogQuoted(absl::string_view v) {
  return absl::StrCat("\"", absl::Utf8SafeCEscape(v), "\"");
}

// A client-chosen value (a request id): bare when it is one plain word,
// else LogQuoted, so that `key=value` pairs stay unambiguous.
std::string Word(absl::string_view v) {
  const bool plain = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '=' && c != '"' && c != '\\';
  });
  return plain ? std::string(v) : LogQuoted(v);
}

}  // namespace

std::string RequestLogger::FormatText(const RequestRecord& r) {
  std::string line = absl::StrFormat(
      "request finished: method=%s tenant=%s request_id=%s status=%s "
      "finish_reason=%s prompt_tokens=%d cached_prompt_tokens=%d "
      "generated_tokens=%d ttft_ms=%.3f queue_ms=%.3f duration_ms=%.3f "
      "preemptions=%d",
      r.method, r.tenant, Word(r.request_id), StatusCodeName(r.status),
      engine::FinishReasonName(r.info.reason), r.info.prompt_tokens,
      r.info.cached_prompt_tokens, r.info.generated_tokens,
      Ms(r.info.time_to_first_token), Ms(r.info.queue_time),
      Ms(r.info.total_time), r.info.preemptions);
  if (!r.user.empty()) absl::StrAppend(&line, " user=", LogQuoted(r.user));
  if (!r.status.ok()) {
    absl::StrAppend(&line, " error=", LogQuoted(r.status.message()));
  }
  return line;
}

std::string RequestLogger::FormatJsonMembers(const RequestRecord& r) {
  nlohmann::ordered_json j;
  j["msg"] = "request finished";
  j["method"] = r.method;
  j["tenant"] = r.tenant;
  j["request_id"] = r.request_id;
  j["status"] = StatusCodeName(r.status);
  j["finish_reason"] = std::string(engine::FinishReasonName(r.info.reason));
  j["prompt_tokens"] = r.info.prompt_tokens;
  j["cached_prompt_tokens"] = r.info.cached_prompt_tokens;
  j["generated_tokens"] = r.info.generated_tokens;
  j["ttft_ms"] = Ms(r.info.time_to_first_token);
  j["queue_ms"] = Ms(r.info.queue_time);
  j["duration_ms"] = Ms(r.info.total_time);
  j["preemptions"] = r.info.preemptions;
  if (!r.user.empty()) j["user"] = r.user;
  if (!r.status.ok()) j["error"] = std::string(r.status.message());
  std::string object =
      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // The members without the enclosing braces.
  return object.substr(1, object.size() - 2);
}

void RequestLogger::Log(const RequestRecord& record) const {
  if (json()) {
    LogJsonFields(spdlog::level::info, FormatJsonMembers(record));
  } else {
    spdlog::info("{}", FormatText(record));
  }
}

}  // namespace kvasir::server

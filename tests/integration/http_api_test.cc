// The OpenAI-compatible HTTP API of the real `kvasir serve` process
// (stories260K.gguf, the two-tenant config), beside gRPC on the same
// engine: every error status, streaming, a client going away mid-stream or
// during a unary request, two tenants, the SIGTERM drain, and greedy output
// equal to gRPC's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/http_client.h"
#include "tests/integration/live_server.h"
#include "tests/testing/paths.h"

namespace kvasir::integration {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// Tokens of the long generations: about a second of work in the Release
// build (several in ASan).
constexpr int32_t kLong = 2000;

std::string Completion(const std::string& prompt, int max_tokens,
                       bool stream = false) {
  json body = {{"prompt", prompt},
               {"max_tokens", max_tokens},
               {"ignore_eos", true},
               {"temperature", 0}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body.dump();
}

// A POST /v1/completions of `body` for tenant alpha, with the
// Content-Length header(s) given, as bytes on the wire.
std::string RawPost(const std::string& body, size_t length,
                    const std::string& more_headers = "") {
  return absl::StrCat("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      "Authorization: Bearer ", kAlphaKey,
                      "\r\nContent-Type: application/json\r\n",
                      "Content-Length: ", length, "\r\n", more_headers, "\r\n",
                      body);
}

// A connection to 127.0.0.1:port that sent `bytes`; -1 on failure.
int SendRaw(int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      send(fd, bytes.data(), bytes.size(), 0) !=
          static_cast<ssize_t>(bytes.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends on `fd` until it closes the connection (or
// 30 s pass); closes fd.
std::string ReadToClose(int fd) {
  timeval timeout{.tv_sec = 30, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  close(fd);
  return out;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void Start(const ConfigSpec& spec = TwoTenantConfig()) {
    absl::StatusOr<std::unique_ptr<LiveServer>> s = LiveServer::Start(spec);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    stub_ = server_->Generation();
    port_ = server_->process().http_port();
    ASSERT_NE(port_, 0) << server_->process().ReadLog();
  }

  // The reply has `status` and OpenAI's error object whose message has
  // `part` (and `param` when given).
  static void ExpectError(const HttpReply& r, int status,
                          const std::string& type, const std::string& part,
                          const std::string& param = "") {
    EXPECT_EQ(r.status, status) << r.body;
    ASSERT_TRUE(r.json.is_object() && r.json.contains("error")) << r.body;
    const json& e = r.json["error"];
    EXPECT_EQ(e["type"], type) << r.body;
    EXPECT_THAT(e["message"].get<std::string>(), HasSubstr(part));
    if (!param.empty()) {
      EXPECT_EQ(e["param"], param) << r.body;
    }
    EXPECT_TRUE(e.contains("code")) << r.body;
  }

  bool Idle(const std::string& tenant) {
    absl::StatusOr<v1::GetStatsResponse> s = server_->Stats();
    if (!s.ok()) return false;
    const v1::TenantStats t = FindTenant(*s, tenant);
    return t.running() == 0 && t.queued() == 0 && t.kv_used_blocks() == 0 &&
           s->free_blocks() + s->cached_blocks() == s->total_blocks();
  }
  v1::TenantStats Tenant(const std::string& name) {
    absl::StatusOr<v1::GetStatsResponse> s = server_->Stats();
    return s.ok() ? FindTenant(*s, name) : v1::TenantStats();
  }

  // Sends a long unary request, closes its connection once it runs (with
  // an RST when `reset`, else a FIN) and expects it cancelled: its blocks
  // freed before its end, CANCELLED in the log.
  void ExpectCancelledWhenTheClientGoes(bool reset) {
    const std::string body = Completion("Once upon a time", kLong);
    const int fd = SendRaw(port_, RawPost(body, body.size()));
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WaitUntil([&] { return Tenant("alpha").running() == 1; }));
    if (reset) {
      const linger now{.l_onoff = 1, .l_linger = 0};
      ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now)), 0);
    }
    close(fd);
    ASSERT_TRUE(WaitUntil([&] { return Idle("alpha"); }))
        << server_->Stats()->DebugString();
    EXPECT_LT(Tenant("alpha").generated_tokens(), kLong);
    EXPECT_TRUE(WaitUntil([&] {
      return server_->process().ReadLog().find(
                 "the client went away before the response") !=
             std::string::npos;
    })) << server_->process().ReadLog();
  }

  std::unique_ptr<LiveServer> server_;
  std::unique_ptr<v1::Generation::Stub> stub_;
  int port_ = 0;
};

TEST_F(HttpApiTest, ModelsHealthAndAUnaryCompletion) {
  Start();
  const HttpReply health = HttpGet(port_, "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json["status"], "ok");
  // No key needed for either.
  const HttpReply models = HttpGet(port_, "/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(models.json["object"], "list");
  ASSERT_EQ(models.json["data"].size(), 1u);
  EXPECT_EQ(models.json["data"][0]["id"], "stories260K.gguf");
  EXPECT_EQ(HttpGet(port_, "/v1/models/stories260K.gguf").status, 200);

  const HttpReply r = HttpPost(port_, "/v1/completions", kAlphaKey,
                               json({{"model", "stories260K.gguf"},
                                     {"prompt", "Once upon a time"},
                                     {"max_tokens", 12},
                                     {"user", "user-42"}})
                                   .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "text_completion");
  EXPECT_EQ(r.json["model"], "stories260K.gguf");
  EXPECT_THAT(r.json["id"].get<std::string>(), ::testing::StartsWith("cmpl-"));
  // Response ids are unique even when clients reuse an X-Request-Id.
  const std::string body = Completion("Once", 2);
  const HttpReply same1 = HttpPost(port_, "/v1/completions", kAlphaKey, body,
                                   {{"X-Request-Id", "same"}});
  const HttpReply same2 = HttpPost(port_, "/v1/completions", kAlphaKey, body,
                                   {{"X-Request-Id", "same"}});
  ASSERT_EQ(same1.status, 200) << same1.body;
  ASSERT_EQ(same2.status, 200) << same2.body;
  EXPECT_NE(same1.json["id"], same2.json["id"]);
  const json& choice = r.json["choices"][0];
  EXPECT_FALSE(choice["text"].get<std::string>().empty());
  EXPECT_TRUE(choice["finish_reason"] == "length" ||
              choice["finish_reason"] == "stop");
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], 5);
  EXPECT_GE(r.json["usage"]["completion_tokens"].get<int>(), 1);
  EXPECT_TRUE(
      r.json["usage"]["prompt_tokens_details"].contains("cached_tokens"));
  // The request log has it, with the user.
  EXPECT_TRUE(WaitUntil([&] {
    return server_->process().ReadLog().find(
               "method=POST /v1/completions tenant=alpha") != std::string::npos;
  }));
  EXPECT_THAT(server_->process().ReadLog(), HasSubstr("user=\"user-42\""));
}

TEST_F(HttpApiTest, GreedyOutputEqualsGrpcUnaryAndStreaming) {
  Start();
  const Outcome grpc_out =
      RunUnary(*stub_, kAlphaKey, TextRequest("Once upon a time", 40));
  ASSERT_TRUE(grpc_out.status.ok()) << grpc_out.status.error_message();
  const HttpReply unary = HttpPost(port_, "/v1/completions", kAlphaKey,
                                   Completion("Once upon a time", 40));
  ASSERT_EQ(unary.status, 200) << unary.body;
  EXPECT_EQ(unary.json["choices"][0]["text"], grpc_out.text);
  EXPECT_EQ(unary.json["usage"]["completion_tokens"], 40);
  EXPECT_EQ(unary.json["choices"][0]["finish_reason"], "length");

  const SseStream s = HttpStream(port_, "/v1/completions", kBetaKey,
                                 Completion("Once upon a time", 40, true));
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done) << s.raw;
  EXPECT_EQ(s.Text(), grpc_out.text);
  ASSERT_GE(s.events.size(), 3u);
  // The last choice chunk has the finish reason; then the usage chunk.
  const json& usage = s.events.back();
  EXPECT_TRUE(usage["choices"].empty()) << usage;
  EXPECT_EQ(usage["usage"]["completion_tokens"], 40);
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(s.events[s.events.size() - 2]["choices"][0]["finish_reason"],
            "length");
  // Both tenants' keys served (and only their own tenant counted them).
  // GetStats is the snapshot after an engine step, which may come a moment
  // after the stream's last event.
  EXPECT_TRUE(WaitUntil([&] { return Idle("beta"); }));
  EXPECT_GT(Tenant("alpha").generated_tokens(), 0);
  EXPECT_GE(Tenant("beta").generated_tokens(), 40);
}

// A stop string that starts matching and then does not: the text it held
// back comes later, and no chunk in between is empty (an empty delta broke
// clients that join delta.content).
TEST_F(HttpApiTest, HeldBackTextMakesNoEmptyChunks) {
  Start();
  const HttpReply unary = HttpPost(port_, "/v1/completions", kAlphaKey,
                                   Completion("Once upon a time", 40));
  ASSERT_EQ(unary.status, 200) << unary.body;
  const std::string text = unary.json["choices"][0]["text"];
  ASSERT_GT(text.size(), 30u);
  json body = json::parse(Completion("Once upon a time", 40, true));
  // Never matched (\x01 does not come), but its first 12 bytes do.
  body["stop"] = text.substr(10, 12) + "\x01";
  const SseStream s =
      HttpStream(port_, "/v1/completions", kAlphaKey, body.dump());
  ASSERT_TRUE(s.done) << s.raw;
  EXPECT_EQ(s.Text(), text);
  for (size_t i = 0; i + 1 < s.events.size(); ++i) {
    const json& choice = s.events[i]["choices"][0];
    if (!choice["finish_reason"].is_null()) continue;
    EXPECT_FALSE(choice["text"].get<std::string>().empty()) << s.raw;
  }
}

TEST_F(HttpApiTest, ClientErrors) {
  Start();  // no default tenant
  const std::string ok = Completion("Once", 4);
  ExpectError(HttpPost(port_, "/v1/completions", "", ok), 401,
              "authentication_error", "missing API key");
  ExpectError(HttpPost(port_, "/v1/completions", "not-a-key", ok), 401,
              "authentication_error", "unknown API key");
  ExpectError(HttpPost(port_, "/v1/completions", kAlphaKey, "{not json"), 400,
              "invalid_request_error", "not valid JSON");
  ExpectError(HttpPost(port_, "/v1/completions", kAlphaKey,
                       R"({"prompt": "Once", "temperature": -1})"),
              400, "invalid_request_error", "temperature: -1", "temperature");
  ExpectError(HttpPost(port_, "/v1/completions", kAlphaKey,
                       R"({"prompt": "Once", "n": 3})"),
              400, "invalid_request_error", "n: 3 is not supported", "n");
  ExpectError(HttpPost(port_, "/v1/completions", kAlphaKey,
                       R"({"prompt": "Once", "model": "gpt-4"})"),
              404, "invalid_request_error", "'gpt-4' is not served here",
              "model");
  ExpectError(HttpGet(port_, "/v1/nothing"), 404, "invalid_request_error",
              "no such endpoint");
  ExpectError(HttpPost(port_, "/v1/models", kAlphaKey, "{}"), 405,
              "invalid_request_error", "this endpoint takes GET");
  // A prompt over the 2048-token context.
  json ids = json::array();
  for (int i = 0; i < 2100; ++i) ids.push_back(1);
  ExpectError(HttpPost(port_, "/v1/completions", kAlphaKey,
                       json({{"prompt", ids}}).dump()),
              400, "invalid_request_error", "context length is 2048", "prompt");
  // A body over server.http_max_body_bytes (4 MiB by default).
  ExpectError(HttpPost(port_, "/v1/completions", kAlphaKey,
                       json({{"prompt", std::string(5 << 20, 'a')}}).dump()),
              413, "invalid_request_error", "server.http_max_body_bytes");
  // beta can hold 768 tokens: 5 + 800 could never fit.
  ExpectError(HttpPost(port_, "/v1/completions", kBetaKey,
                       Completion("Once upon a time", 800)),
              429, "rate_limit_error", "could never run");
  // Nothing of that reached the engine.
  EXPECT_EQ(Tenant("alpha").tokens_served(), 0);
  EXPECT_EQ(Tenant("beta").tokens_served(), 0);
}

TEST_F(HttpApiTest, TooManyRequestsWhenTheTenantQueueIsFull) {
  ConfigSpec spec = TwoTenantConfig();
  spec.tenants[1].limit = "";
  spec.tenants[1].max_concurrent = 1;
  spec.tenants[1].max_queued = 1;
  Start(spec);
  // gRPC and HTTP share the tenant's queue: two gRPC streams fill it.
  OpenStream running(*stub_, kBetaKey, TextRequest("Once upon a time", kLong));
  ASSERT_TRUE(WaitUntil([&] { return Tenant("beta").running() == 1; }));
  OpenStream queued(*stub_, kBetaKey, TextRequest("The little dog", kLong));
  ASSERT_TRUE(WaitUntil([&] { return Tenant("beta").queued() == 1; }));
  const HttpReply r =
      HttpPost(port_, "/v1/completions", kBetaKey, Completion("One day", 4));
  ExpectError(r, 429, "rate_limit_error", "tenant 'beta' queue is full");
  EXPECT_EQ(r.json["error"]["code"], "tenant_queue_full");
  const SseStream s = HttpStream(port_, "/v1/completions", kBetaKey,
                                 Completion("One day", 4, true));
  EXPECT_EQ(s.status, 429) << s.raw;
  running.Cancel();
  queued.Cancel();
  running.Finish();
  queued.Finish();
  EXPECT_TRUE(WaitUntil([&] { return Idle("beta"); }));
}

TEST_F(HttpApiTest, DeadlineIs504AndAnErrorEventMidStream) {
  Start();
  // X-Request-Timeout: 50 ms for a generation of about a second.
  const HttpReply r = HttpPost(port_, "/v1/completions", kAlphaKey,
                               Completion("Once upon a time", kLong),
                               {{"X-Request-Timeout", "0.05"}});
  ExpectError(r, 504, "timeout_error", "deadline passed");
  // Streaming, the 200 is out before the deadline passes: the error is the
  // stream's last event, and no [DONE] follows.
  const SseStream s = HttpStream(port_, "/v1/completions", kAlphaKey,
                                 Completion("Once upon a time", kLong, true),
                                 nullptr, {{"X-Request-Timeout", "0.05"}});
  EXPECT_EQ(s.status, 200);
  EXPECT_FALSE(s.done);
  const json e = s.Error();
  ASSERT_TRUE(e.is_object()) << s.raw.substr(0, 2000);
  EXPECT_EQ(e["error"]["type"], "timeout_error");
  EXPECT_EQ(e, s.events.back());
  ExpectError(HttpPost(port_, "/v1/completions", kAlphaKey,
                       Completion("Once", 4), {{"X-Request-Timeout", "soon"}}),
              400, "invalid_request_error", "X-Request-Timeout: 'soon'",
              "X-Request-Timeout");
  EXPECT_TRUE(WaitUntil([&] { return Idle("alpha"); }));
}

TEST_F(HttpApiTest, ClientGoneMidStreamLeavesNoKvBlockBehind) {
  Start();
  int seen = 0;
  const SseStream s = HttpStream(
      port_, "/v1/completions", kAlphaKey,
      Completion("Once upon a time", kLong, true), [&](const json& e) {
        if (e.contains("choices") && !e["choices"].empty()) ++seen;
        return seen < 5;  // then hang up
      });
  EXPECT_EQ(seen, 5);
  EXPECT_FALSE(s.done);
  ASSERT_TRUE(WaitUntil([&] { return Idle("alpha"); }))
      << server_->Stats()->DebugString();
  EXPECT_LT(Tenant("alpha").generated_tokens(), kLong);
  EXPECT_TRUE(WaitUntil([&] {
    return server_->process().ReadLog().find(
               "the client went away mid-stream") != std::string::npos;
  })) << server_->process().ReadLog();
  // The server carries on.
  const HttpReply after = HttpPost(port_, "/v1/completions", kAlphaKey,
                                   Completion("Once upon a time", 8));
  EXPECT_EQ(after.status, 200) << after.body;
}

// A unary request (no stream) whose client hangs up while it runs: the
// server notices the closed connection, cancels the request and frees its
// blocks instead of generating all kLong tokens for nobody.
TEST_F(HttpApiTest, ClientGoneDuringAUnaryRequestCancelsIt) {
  Start();
  ExpectCancelledWhenTheClientGoes(/*reset=*/false);
  const HttpReply after = HttpPost(port_, "/v1/completions", kAlphaKey,
                                   Completion("Once upon a time", 8));
  EXPECT_EQ(after.status, 200) << after.body;
}

// A client that resets its connection (RST, not FIN) before the handler
// first looks for its socket: getpeername fails on a reset socket, so the
// lookup finds the connection by its lost peer, and the request is
// cancelled as for a close (it ran to its end, billed OK).
TEST_F(HttpApiTest, ClientResetEarlyInAUnaryRequestCancelsIt) {
  Start();
  ExpectCancelledWhenTheClientGoes(/*reset=*/true);
}

// Two Content-Length headers that disagree frame the body two ways (a
// proxy in front may pick the other): 400 naming the header.
TEST_F(HttpApiTest, ConflictingContentLengthsAre400) {
  Start();
  const std::string body = Completion("Once", 2);
  const int fd = SendRaw(
      port_,
      RawPost(body, body.size(), "Content-Length: 3\r\nConnection: close\r\n"));
  ASSERT_GE(fd, 0);
  const std::string reply = ReadToClose(fd);
  EXPECT_THAT(reply, ::testing::StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: conflicting values"));
  EXPECT_THAT(reply, HasSubstr("\"param\":\"Content-Length\""));
  // The same length twice is one framing: served.
  const int same =
      SendRaw(port_, RawPost(body, body.size(),
                             absl::StrCat("Content-Length: ", body.size(),
                                          "\r\nConnection: close\r\n")));
  ASSERT_GE(same, 0);
  EXPECT_THAT(ReadToClose(same), ::testing::StartsWith("HTTP/1.1 200"));
}

// A GGUF with a chat template (qwen2-q8_0.gguf carries ChatML): chat
// completions unary and streaming, greedy output equal to gRPC's
// `messages` prompt, logprobs in the chat shape.
TEST_F(HttpApiTest, ChatCompletionsEqualGrpcMessages) {
  ConfigSpec spec = TwoTenantConfig();
  spec.model = testing::ModelPath("synth/qwen2-q8_0.gguf");
  Start(spec);
  v1::GenerateRequest g = TextRequest("", 16);
  g.clear_prompt();
  v1::ChatMessage* m = g.mutable_messages()->add_messages();
  m->set_role("user");
  m->set_content("Hello there");
  const Outcome grpc_out = RunUnary(*stub_, kAlphaKey, g);
  ASSERT_TRUE(grpc_out.status.ok()) << grpc_out.status.error_message();

  const json body = {
      {"messages",
       json::array({{{"role", "user"}, {"content", "Hello there"}}})},
      {"max_completion_tokens", 16},
      {"ignore_eos", true},
      {"temperature", 0},
      {"logprobs", true},
      {"top_logprobs", 2}};
  const HttpReply r =
      HttpPost(port_, "/v1/chat/completions", kAlphaKey, body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "chat.completion");
  EXPECT_THAT(r.json["id"].get<std::string>(),
              ::testing::StartsWith("chatcmpl-"));
  const json& choice = r.json["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], grpc_out.text);
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], grpc_out.usage.prompt_tokens());
  ASSERT_EQ(choice["logprobs"]["content"].size(), 16u);
  EXPECT_EQ(choice["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
  EXPECT_TRUE(choice["logprobs"]["content"][0].contains("bytes"));

  json stream_body = body;
  stream_body["stream"] = true;
  stream_body["stream_options"] = {{"include_usage", true}};
  const SseStream s =
      HttpStream(port_, "/v1/chat/completions", kBetaKey, stream_body.dump());
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done) << s.raw.substr(0, 2000);
  EXPECT_EQ(s.Text(), grpc_out.text);
  ASSERT_GE(s.events.size(), 3u);
  EXPECT_EQ(s.events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(s.events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(s.events[s.events.size() - 2]["choices"][0]["finish_reason"],
            "length");
  EXPECT_EQ(s.events.back()["usage"]["completion_tokens"], 16);

  // Special-token text typed by a user stays text: it is not a marker.
  const HttpReply typed = HttpPost(
      port_, "/v1/chat/completions", kAlphaKey,
      json({{"messages", json::array({{{"role", "user"},
                                       {"content", "<|im_start|>system"}}})},
            {"max_tokens", 2}})
          .dump());
  ASSERT_EQ(typed.status, 200) << typed.body;
  EXPECT_GT(typed.json["usage"]["prompt_tokens"].get<int>(),
            r.json["usage"]["prompt_tokens"].get<int>() - 2);
}

TEST_F(HttpApiTest, ChatWithoutATemplateIs400) {
  Start();  // stories260K has no chat template
  ExpectError(HttpPost(port_, "/v1/chat/completions", kAlphaKey,
                       R"({"messages": [{"role": "user", "content": "hi"}]})"),
              400, "invalid_request_error", "no chat template", "messages");
  // Completions work as always.
  EXPECT_EQ(HttpPost(port_, "/v1/completions", kAlphaKey, Completion("Once", 4))
                .status,
            200);
}

// SIGTERM: /health turns 503, new requests get 503, and a running HTTP
// stream runs to its end ([DONE], every token) before the server exits 0.
TEST_F(HttpApiTest, SigtermDrainsHttpStreams) {
  Start();
  absl::Notification started;
  absl::Notification signalled;
  SseStream stream;
  std::thread reader([&] {
    stream = HttpStream(
        port_, "/v1/completions", kAlphaKey,
        Completion("Once upon a time", kLong, true), [&](const json&) {
          if (!started.HasBeenNotified()) {
            started.Notify();
            // Hold the stream open until the test has seen
            // the drain.
            signalled.WaitForNotificationWithTimeout(absl::Seconds(60));
          }
          return true;
        });
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(server_->process().Signal(SIGTERM).ok());
  EXPECT_TRUE(WaitUntil([&] {
    const HttpReply h = HttpGet(port_, "/health");
    return h.status == 503 && h.json["status"] == "draining";
  }));
  ExpectError(
      HttpPost(port_, "/v1/completions", kBetaKey, Completion("One day", 4)),
      503, "service_unavailable_error", "draining");
  signalled.Notify();
  reader.join();
  EXPECT_EQ(stream.status, 200);
  EXPECT_TRUE(stream.done) << stream.raw.substr(0, 2000);
  ASSERT_FALSE(stream.events.empty());
  EXPECT_EQ(stream.events.back()["usage"]["completion_tokens"], kLong);
  absl::StatusOr<int> code = server_->process().Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->process().ReadLog();
}

}  // namespace
}  // namespace kvasir::integration

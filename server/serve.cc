#include "server/serve.h"

#include <signal.h>
#include <string.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/bounded_text.h"
#include "common/logging.h"
#include "common/units.h"
#include "engine/model/model.h"
#include "server/fmt_absl.h"
#include "server/server.h"
#include "server/signals.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

void WarnAboutDummyModel(const ServerConfig& config) {
  if (config.model_defaulted) {
    spdlog::warn(
        "*********************************************************************"
        "*");
    spdlog::warn(
        "NO MODEL CONFIGURED: serving '{}', a model with RANDOM "
        "weights. Its output is gibberish.",
        kDefaultModel);
    spdlog::warn(
        "Point model.path in {} at a GGUF or llama2.c checkpoint "
        "(or pass --model FILE) to serve a real model.",
        config.source);
    spdlog::warn(
        "*********************************************************************"
        "*");
  } else if (absl::StartsWith(config.model.path, "dummy:")) {
    spdlog::warn("model '{}' has random weights: its output is gibberish",
                 config.model.path);
  }
}

void LogModel(const engine::Engine& engine) {
  const engine::ModelConfig& m = engine.model_config();
  const kvcache::KvLayout& kv = engine.kv_layout();
  spdlog::info(
      "model {} ({}): {} layers, dim {}, H {}, Hkv {} ({}), head_dim {}, "
      "vocab {}, context {}; KV cache {} blocks x {} tokens ({} per token, "
      "{} total)",
      m.name, m.architecture, m.n_layers, m.dim, m.n_heads, m.n_kv_heads,
      engine::AttentionModeName(m.attention_mode()), m.head_dim, m.vocab_size,
      m.context_length, engine.kv_capacity_blocks(), kv.block_size,
      FormatByteSize(kv.BytesPerToken()),
      FormatByteSize(engine.kv_capacity_blocks() * kv.BlockBytes()));
}

}  // namespace

int RunServe(const ServeFlags& flags, const EngineFactory& factory) {
  if (absl::Status s = BlockServerSignals(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  (void)InitLogging(LoggingOptions{});
  if (flags.config_path.empty()) {
    spdlog::error("--config FILE is required (see configs/default.yaml)");
    return 2;
  }
  absl::StatusOr<ServerConfig> config = LoadConfigFile(flags.config_path);
  ConfigOverrides overrides;
  overrides.model = flags.model;
  overrides.tokenizer = flags.tokenizer;
  overrides.listen = flags.listen;
  overrides.http_listen = flags.http_listen;
  overrides.metrics_listen = flags.metrics_listen;
  if (config.ok()) {
    if (absl::Status s = overrides.ApplyTo(&*config); !s.ok()) {
      config = WithMessage(
          s, absl::StrCat("with the command-line flags: ", s.message()));
    }
  }
  if (!config.ok()) {
    // The listing a bounded message leaves out goes to the log first; the
    // last line is the message itself.
    LogDetail(config.status(), "the config is invalid");
    spdlog::error("{}", config.status().message());
    return 2;
  }
  if (absl::Status s = InitLogging(config->logging); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  WarnAboutDummyModel(*config);

  Server::Options options;
  options.overrides = overrides;
  options.reconfigure_logging = true;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(options, nullptr, *config);
  if (!server.ok()) {
    spdlog::error("{}", server.status().message());
    return 2;
  }

  absl::Notification terminate;
  Server* srv = server->get();
  SignalThread::Callbacks callbacks;
  callbacks.on_hangup = [srv] {
    spdlog::info("SIGHUP: reloading the config");
    srv->ReloadAsync("SIGHUP");
  };
  callbacks.on_terminate = [&terminate](int signo) {
    if (terminate.HasBeenNotified()) {
      spdlog::warn("{} again: already shutting down", strsignal(signo));
      return;
    }
    spdlog::info("{}: shutting down", strsignal(signo));
    terminate.Notify();
  };
  absl::StatusOr<std::unique_ptr<SignalThread>> signals =
      SignalThread::Start(std::move(callbacks));
  if (!signals.ok()) {
    spdlog::error("{}", signals.status().message());
    return 1;
  }

  if (absl::Status s = srv->Start(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  spdlog::info("loading model {} ...", config->model.path);
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      factory(srv->config());
  if (!engine.ok()) {
    // A tenant budget the model's KV blocks cannot honour (a limit under
    // one block, floors that round up past the capacity) is a config
    // error: the file's line, and exit 2.
    if (const std::optional<absl::Status> bad =
            EngineTenantRuleError(srv->config(), engine.status())) {
      LogDetail(*bad, "the config is invalid");
      spdlog::error("{}", bad->message());
      srv->Shutdown();
      return 2;
    }
    spdlog::error("cannot load the model: {}", engine.status().message());
    srv->Shutdown();
    return 1;
  }
  LogModel(**engine);
  if (terminate.HasBeenNotified()) {
    spdlog::info("a stop was requested while the model loaded");
  } else {
    srv->SetEngine(engine->get());
    spdlog::info("ready: health is SERVING");
  }
  terminate.WaitForNotification();
  srv->Shutdown();
  (*signals)->Stop();
  server->reset();  // before the engine: no call may reach it afterwards
  engine->reset();  // shuts the engine down if it never served
  spdlog::info("bye");
  return 0;
}

}  // namespace kvasir::server

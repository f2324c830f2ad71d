// kvasir client generate|stream|chat|tokenize|info|stats|health|reload|usage
//   --addr HOST:PORT [--api-key K] [--json] [--prompt TEXT --max-tokens N
//   --temperature T --seed S --top-k K --top-p P ...]
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "tools/client.h"
#include "tools/commands.h"

namespace kvasir::tools {
namespace {

struct Parsed {
  ClientOptions o;
  int32_t max_tokens = 0;
  float temperature = 0;
  int32_t top_k = 0;
  float top_p = 1;
  float min_p = 0;
  float repetition_penalty = 1;
  uint64_t seed = 0;
};

template <typename T>
void SetIfGiven(const CLI::Option* option, const T& value,
                std::optional<T>* out) {
  if (option != nullptr && option->count() > 0) *out = value;
}

void AddClientSubcommand(CLI::App* client, const std::string& name,
                         const std::string& help, int* exit_code) {
  auto p = std::make_shared<Parsed>();
  p->o.command = name;
  CLI::App* cmd = client->add_subcommand(name, help);
  cmd->add_option("--addr", p->o.addr, "Server address host:port")
      ->capture_default_str();
  cmd->add_option("--api-key", p->o.api_key,
                  "API key (default: $KVASIR_API_KEY); stats, reload and "
                  "usage need the admin key");
  cmd->add_option("--timeout", p->o.timeout_seconds,
                  "Deadline of the call in seconds (0 = none; health: 5)");
  cmd->add_flag("--json", p->o.json, "Print one JSON object");
  const bool chat = name == "chat";
  const bool generates = name == "generate" || name == "stream" || chat;
  CLI::Option* max_tokens = nullptr;
  CLI::Option* temperature = nullptr;
  CLI::Option* top_k = nullptr;
  CLI::Option* top_p = nullptr;
  CLI::Option* min_p = nullptr;
  CLI::Option* repetition_penalty = nullptr;
  CLI::Option* seed = nullptr;
  if (chat) {
    cmd->add_option("--prompt", p->o.prompt,
                    "One user message, then exit (default: one turn per "
                    "line of input; /exit ends a terminal session)");
  } else if (generates || name == "tokenize") {
    cmd->add_option("--prompt", p->o.prompt, "Prompt text");
    cmd->add_flag("--parse-special", p->o.parse_special,
                  "Encode special-token text in the prompt (<|im_start|>) "
                  "as those tokens instead of as plain text");
  }
  if (chat) {
    cmd->add_option("--system", p->o.system, "A system message first");
  }
  if (name == "tokenize") {
    cmd->add_flag("--no-bos", p->o.no_bos, "Do not prepend BOS");
  }
  if (generates && !chat) {
    // An empty item would convert to token 0, a prompt nobody gave.
    cmd->add_option("--token-ids", p->o.token_ids,
                    "Prompt as token ids instead of text: 1,2,3")
        ->delimiter(',')
        ->check(CLI::Validator(
            [](std::string& id) {
              return id.empty() ? std::string("an empty token id (1,2,3)")
                                : std::string();
            },
            "", "NONEMPTY"));
  }
  if (generates) {
    max_tokens =
        cmd->add_option("--max-tokens", p->max_tokens,
                        chat ? "Tokens per reply (default " +
                                   std::to_string(kChatDefaultMaxTokens) + ")"
                             : std::string("Tokens to generate (default 16)"));
    temperature = cmd->add_option("--temperature", p->temperature,
                                  "0 = greedy (default)");
    top_k = cmd->add_option("--top-k", p->top_k, "Keep the k best (0 = off)");
    top_p = cmd->add_option("--top-p", p->top_p, "Nucleus, in (0, 1]");
    min_p = cmd->add_option("--min-p", p->min_p, "In [0, 1]");
    repetition_penalty = cmd->add_option(
        "--repetition-penalty", p->repetition_penalty, "> 0 (1 = off)");
    seed = cmd->add_option("--seed", p->seed, "Sampling seed");
    cmd->add_option("--stop", p->o.stop, "Stop sequence (repeatable)");
    cmd->add_flag("--include-stop", p->o.include_stop,
                  "Keep the stop sequence in the output");
    cmd->add_flag("--ignore-eos", p->o.ignore_eos, "Generate past EOS");
    cmd->add_flag("--logprobs", p->o.logprobs,
                  "Return each token's logprob (with --json)");
    cmd->add_option("--top-logprobs", p->o.top_logprobs,
                    "And the n best alternatives (with --json)");
    cmd->add_option("--priority", p->o.priority,
                    "Higher runs first within the tenant");
    cmd->add_option("--request-id", p->o.request_id, "Id for the logs");
  }
  if (name == "usage") {
    cmd->add_flag("--reset", p->o.reset,
                  "Zero the usage after reading it (the Prometheus "
                  "kvasir_usage_*_total counters are never reset)");
  }
  if (name == "health") {
    cmd->add_option("--service", p->o.service,
                    "Service to check (default: the whole server)");
  }
  cmd->callback([=] {
    ClientOptions o = p->o;
    SetIfGiven(max_tokens, p->max_tokens, &o.max_tokens);
    SetIfGiven(temperature, p->temperature, &o.temperature);
    SetIfGiven(top_k, p->top_k, &o.top_k);
    SetIfGiven(top_p, p->top_p, &o.top_p);
    SetIfGiven(min_p, p->min_p, &o.min_p);
    SetIfGiven(repetition_penalty, p->repetition_penalty,
               &o.repetition_penalty);
    SetIfGiven(seed, p->seed, &o.seed);
    if (o.api_key.empty()) {
      const char* env = std::getenv("KVASIR_API_KEY");
      if (env != nullptr) o.api_key = env;
    }
    *exit_code = RunClient(o, std::cout, std::cerr);
  });
}

}  // namespace

void AddClientCommand(CLI::App& app, int* exit_code) {
  CLI::App* client = app.add_subcommand(
      "client", "Talk to a running server (exit code = gRPC status code)");
  client->require_subcommand(1);
  AddClientSubcommand(client, "generate", "Generate text (one response)",
                      exit_code);
  AddClientSubcommand(client, "stream", "Generate text, printed as it arrives",
                      exit_code);
  AddClientSubcommand(client, "chat",
                      "Chat with the model through its chat template "
                      "(interactive on a terminal; --prompt for one turn)",
                      exit_code);
  AddClientSubcommand(client, "tokenize", "Encode text to token ids",
                      exit_code);
  AddClientSubcommand(client, "info", "The model and KV-cache geometry",
                      exit_code);
  AddClientSubcommand(client, "stats", "KV and request stats (admin key)",
                      exit_code);
  AddClientSubcommand(client, "reload",
                      "Reload the server's config file (admin key)", exit_code);
  AddClientSubcommand(client, "usage",
                      "Per-tenant usage since start or the last --reset: "
                      "requests by finish reason, refusals, prompt/cached/"
                      "generated tokens, KV byte-seconds (admin key)",
                      exit_code);
  AddClientSubcommand(client, "health",
                      "Exit 0 when the server is SERVING (Docker "
                      "HEALTHCHECK)",
                      exit_code);
}

}  // namespace kvasir::tools

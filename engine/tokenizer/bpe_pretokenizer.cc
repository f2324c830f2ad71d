#include "engine/tokenizer/bpe_pretokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/tokenizer/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace kvasir::engine {
namespace {

// The regexes are llama.cpp's (llama-vocab.cpp, llm_tokenizer_bpe), which
// are the tokenizer.json patterns of each model family. Where llama.cpp
// rewrote a pattern for std::regex, the original is used when PCRE2 can run
// it as written (Tekken's \p{Lu}/\p{Ll} classes), and llama.cpp's form when
// the rewrite changes meaning on purpose: "(?i:'s|...)" becomes
// "'[sS]|..." because PCRE2's caseless Unicode matching would also take
// U+017F (long s) and U+212A (Kelvin sign) for 's' and 'k'.

// GPT-2 (and the second stage of several others).
constexpr absl::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

// Llama 3: digits in groups of up to three, a non-letter may lead a word.
constexpr absl::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))"
    R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*)"
    R"(|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Qwen2: as Llama 3 but every digit alone.
constexpr absl::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))"
    R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*)"
    R"(|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Tekken (Mistral NeMo): case-aware words, "HelloWorld" -> Hello|World,
// digits alone, '/' stays with the punctuation run before it.
constexpr absl::string_view kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*)"
    R"([\p{Ll}\p{Lm}\p{Lo}\p{M}]+)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+)"
    R"([\p{Ll}\p{Lm}\p{Lo}\p{M}]*)"
    R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// DeepSeek LLM: the cased letters of the Latin, Greek, Cyrillic, Armenian,
// Georgian, Cherokee, ... blocks (tokenizer.json's explicit list).
constexpr absl::string_view kDeepseekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF})"
    R"(\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377})"
    R"(\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})"
    R"(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA})"
    R"(\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A})"
    R"(\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D})"
    R"(\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D})"
    R"(\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
    R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC})"
    R"(\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113})"
    R"(\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D})"
    R"(\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E})"
    R"(\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE})"
    R"(\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
    R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06})"
    R"(\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})"
    R"(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2})"
    R"(\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";

struct Spec {
  absl::string_view canonical;  // the family, for messages
  std::vector<absl::string_view> regexes;
  PreTokenizerTraits traits;
};

// tokenizer.ggml.pre -> its pre-tokenizer; aliases share a spec.
bool FindSpec(absl::string_view name, Spec* spec) {
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") {
    *spec = {"llama-bpe", {kLlama3}, {.ignore_merges = true, .add_bos = true}};
  } else if (name == "qwen2") {
    *spec = {"qwen2", {kQwen2}, {}};
  } else if (name == "gpt-2") {
    *spec = {"gpt-2", {kGpt2}, {}};
  } else if (name == "default") {
    *spec = {"default",
             {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"},
             {}};
  } else if (name == "smollm") {
    *spec = {"smollm", {R"(\p{N})", kGpt2}, {}};
  } else if (name == "deepseek-llm") {
    *spec = {
        "deepseek-llm",
        {"[\r\n]", kDeepseekLetters,
         R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E})"
         R"(\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
         R"(\s+$)", R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)",
         R"(\p{N}+)"},
        {}};
  } else if (name == "tekken") {
    *spec = {"tekken", {kTekken}, {.ignore_merges = true, .add_bos = true}};
  } else {
    return false;
  }
  return true;
}

// Per-thread PCRE2 match state: match data with room for any of our
// patterns' groups and a JIT stack that grows to 1 MiB for long inputs.
class MatchScratch {
 public:
  MatchScratch()
      : data_(pcre2_match_data_create(32, nullptr)),
        context_(pcre2_match_context_create(nullptr)),
        jit_stack_(pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr)) {
    if (context_ != nullptr && jit_stack_ != nullptr) {
      pcre2_jit_stack_assign(context_, nullptr, jit_stack_);
    }
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(jit_stack_);
    pcre2_match_context_free(context_);
    pcre2_match_data_free(data_);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;

  pcre2_match_data* data() const { return data_; }
  pcre2_match_context* context() const { return context_; }

 private:
  pcre2_match_data* data_;
  pcre2_match_context* context_;
  pcre2_jit_stack* jit_stack_;
};

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof(buf)) < 0) {
    return absl::StrCat("PCRE2 error ", code);
  }
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

struct PreTokenizer::Pattern {
  explicit Pattern(pcre2_code* c) : code(c) {}
  ~Pattern() { pcre2_code_free(code); }
  pcre2_code* code;
};

PreTokenizer::PreTokenizer(std::string name, PreTokenizerTraits traits)
    : name_(std::move(name)), traits_(traits) {}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::SupportedNames() {
  return {"default", "gpt-2",  "llama-bpe",    "llama3", "llama-v3",
          "qwen2",   "smollm", "deepseek-llm", "tekken"};
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(
    absl::string_view name) {
  Spec spec;
  if (!FindSpec(name, &spec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.ggml.pre '", name,
                     "' is not a supported pre-tokenizer (supported: ",
                     absl::StrJoin(SupportedNames(), ", "), ")"));
  }
  std::unique_ptr<PreTokenizer> pre(
      new PreTokenizer(std::string(name), spec.traits));
  for (absl::string_view regex : spec.regexes) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(
        reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(),
        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
        &error, &offset, nullptr);
    if (code == nullptr) {
      return absl::InternalError(absl::StrCat(
          "pre-tokenizer '", name, "': regex /", regex,
          "/ does not compile at offset ", offset, ": ", Pcre2Message(error)));
    }
    pre->patterns_.push_back(std::make_unique<Pattern>(code));
    // Without JIT (unsupported CPU, no executable memory) pcre2_match
    // falls back to the interpreter: slower, same results.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  return pre;
}

absl::Status PreTokenizer::SplitWith(
    const Pattern& pattern, const std::vector<absl::string_view>& in,
    std::vector<absl::string_view>* out) const {
  thread_local MatchScratch scratch;
  if (scratch.data() == nullptr || scratch.context() == nullptr) {
    return absl::ResourceExhaustedError(
        "pre-tokenizer: cannot allocate PCRE2 match data");
  }
  for (absl::string_view chunk : in) {
    // The chunk is the whole subject, so lookarounds and '$' stop at its
    // ends, as they do in llama.cpp's split.
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(chunk.data());
    size_t last = 0;  // end of the previous piece
    size_t pos = 0;   // where the next search starts
    while (pos < chunk.size()) {
      const int rc = pcre2_match(pattern.code, subject, chunk.size(), pos, 0,
                                 scratch.data(), scratch.context());
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        return absl::InternalError(
            absl::StrCat("pre-tokenizer '", name_, "': matching ", chunk.size(),
                         " bytes of text failed: ", Pcre2Message(rc)));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data());
      const size_t start = ov[0];
      const size_t end = ov[1];
      if (end == start) {
        // An empty match splits nothing; step over one character.
        pos = start + std::max<size_t>(
                          1, utf8::SequenceLength(
                                 static_cast<unsigned char>(chunk[start])));
        continue;
      }
      if (start > last) out->push_back(chunk.substr(last, start - last));
      out->push_back(chunk.substr(start, end - start));
      last = pos = end;
    }
    if (last < chunk.size()) out->push_back(chunk.substr(last));
  }
  return absl::OkStatus();
}

absl::Status PreTokenizer::Split(absl::string_view text,
                                 std::vector<absl::string_view>* words) const {
  if (text.empty()) return absl::OkStatus();
  std::vector<absl::string_view> current = {text};
  std::vector<absl::string_view> next;
  for (const std::unique_ptr<Pattern>& pattern : patterns_) {
    next.clear();
    absl::Status status = SplitWith(*pattern, current, &next);
    if (!status.ok()) return status;
    current.swap(next);
  }
  words->insert(words->end(), current.begin(), current.end());
  return absl::OkStatus();
}

}  // namespace kvasir::engine

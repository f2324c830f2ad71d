#include "engine/model/loader.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/dummy_model.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_loader.h"
#include "engine/model/llama2c_loader.h"
#include "engine/model/mapped_file.h"
#include "spdlog/spdlog.h"

namespace kvasir::engine {

absl::StatusOr<std::unique_ptr<Model>> LoadModel(const LoadOptions& options) {
  const std::string& spec = options.path_or_spec;
  if (spec.empty()) {
    return absl::InvalidArgumentError(
        "no model given: pass a GGUF file, a llama2.c .bin checkpoint or "
        "dummy:<preset>");
  }
  if (absl::StartsWith(spec, "dummy:")) {
    return CreateDummyModel(absl::string_view(spec).substr(6), options.seed);
  }
  // One mapping serves both the format check and the GGUF parse.
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(spec));
  if (file->bytes().substr(0, 4) == "GGUF") {
    if (!options.tokenizer_path.empty()) {
      spdlog::warn(
          "--tokenizer {} is ignored: GGUF file {} has its own vocabulary",
          options.tokenizer_path, spec);
    }
    ASSIGN_OR_RETURN(auto gguf, GgufFile::Parse(std::move(file)));
    return ModelFromGguf(*gguf);
  }
  if (options.tokenizer_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        spec,
        " is not a GGUF file; a llama2.c checkpoint (.bin) needs its "
        "tokenizer file: pass --tokenizer PATH (e.g. tok512.bin)"));
  }
  return Llama2cModelFromFile(*file, options.tokenizer_path);
}

}  // namespace kvasir::engine

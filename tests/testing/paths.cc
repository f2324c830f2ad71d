#include "tests/testing/paths.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace kvasir::testing {
namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

}  // namespace

std::string SourceDir() {
  return EnvOr("KVASIR_SOURCE_DIR", KVASIR_SOURCE_DIR);
}

std::string BinaryDir() {
  return EnvOr("KVASIR_BINARY_DIR", KVASIR_BINARY_DIR);
}

std::string SharedDir() {
  return EnvOr("KVASIR_SHARED_DIR", SourceDir() + "/../shared");
}

std::string ModelPath(const std::string& name) {
  return SharedDir() + "/models/" + name;
}

std::string GoldenPath(const std::string& name) {
  return SharedDir() + "/golden/" + name;
}

std::string MakeTempDir() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "kvasir-test-XXXXXX").string();
  char* dir = mkdtemp(tmpl.data());
  return dir == nullptr ? std::string() : std::string(dir);
}

bool WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace kvasir::testing

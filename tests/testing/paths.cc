#include "tests/testing/paths.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

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

TempDir::TempDir() {
  std::error_code ec;
  const std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
  std::string tmpl = (tmp / "kvasir-test-XXXXXX").string();
  if (ec || mkdtemp(tmpl.data()) == nullptr) {
    // No test can go on without its folder: stop here, saying why, rather
    // than have every caller check.
    std::fprintf(stderr, "TempDir: cannot make %s: %s\n", tmpl.c_str(),
                 ec ? ec.message().c_str() : std::strerror(errno));
    std::abort();
  }
  path_ = std::move(tmpl);
}

TempDir::~TempDir() { Remove(); }

TempDir::TempDir(TempDir&& other) noexcept
    : path_(std::exchange(other.path_, std::string())) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, std::string());
  }
  return *this;
}

std::string TempDir::File(std::string_view name) const {
  std::string file = path_;
  file += '/';
  file += name;
  return file;
}

void TempDir::Remove() {
  if (path_.empty()) return;
  // Teardown must not throw: a folder that cannot be removed is left.
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
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

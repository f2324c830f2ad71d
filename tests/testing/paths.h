#ifndef KVASIR_TESTS_TESTING_PATHS_H_
#define KVASIR_TESTS_TESTING_PATHS_H_

#include <string>
#include <string_view>

namespace kvasir::testing {

// The repository's folder (tests run from it). The environment variables
// KVASIR_SOURCE_DIR, KVASIR_BINARY_DIR and KVASIR_SHARED_DIR override the
// folders fixed at build time.
std::string SourceDir();
// The build folder, where tools/kvasir is.
std::string BinaryDir();
// ../shared beside the checkout: models/ and golden/ for tests.
std::string SharedDir();
// SharedDir() + "/models/" + name.
std::string ModelPath(const std::string& name);
// SharedDir() + "/golden/" + name.
std::string GoldenPath(const std::string& name);

// A fresh, empty folder under the system temp dir (kvasir-test-XXXXXX),
// removed with everything in it when the TempDir is destroyed (a folder a
// test leaves behind stays in /tmp for good). When it cannot be made, the
// process stops with the reason. Whatever writes into it (a child process)
// must be gone by then: declare the TempDir before it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(std::string_view name) const;

 private:
  void Remove();

  std::string path_;
};

// Replaces `path`'s contents with `text`: written beside it and renamed
// over it, so a reader (a config watcher) never sees half a file. False
// when the write or the rename fails.
bool WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_PATHS_H_

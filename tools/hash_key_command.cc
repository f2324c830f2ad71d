// kvasir hash-key KEY: prints the hex SHA-256 that configs store for a key.
#include <iostream>
#include <memory>
#include <string>

#include "server/sha256.h"
#include "tools/commands.h"

namespace kvasir::tools {

void AddHashKeyCommand(CLI::App& app, int* exit_code) {
  auto key = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "hash-key",
      "Print the SHA-256 of an API key, for api_key_sha256 / "
      "admin_api_key_sha256 in the config");
  cmd->add_option("key", *key, "The API key")->required();
  cmd->callback([key, exit_code] {
    absl::StatusOr<server::Sha256Digest> digest = server::Sha256(*key);
    if (!digest.ok()) {
      std::cerr << "error: " << digest.status().message() << "\n";
      *exit_code = 1;
      return;
    }
    std::cout << server::DigestToHex(*digest) << "\n";
    *exit_code = 0;
  });
}

}  // namespace kvasir::tools

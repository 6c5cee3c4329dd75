// parse_command_line: CLI11 parsing with Hearth's exit codes. --help and
// --version print and exit 0; any other parse error prints CLI11's message
// (which names the option) and exits 2, the code every Hearth tool uses for a
// bad command line.
//
//   if (auto code = cli::parse_command_line(app, argc, argv)) return *code;
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

namespace hearth::cli {

inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace hearth::cli

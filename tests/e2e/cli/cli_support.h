// What the end-to-end tests of the `meshtrain` binary share: running it (exit code and
// output), a tiny dataset, test job files, reading files back.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fmt/format.h"

namespace mt::testing {

inline const std::string kBinary = std::string(MT_BINARY_DIR) + "/bin/meshtrain";

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line; its stdout and stderr together, and its exit code.
inline Result Shell(const std::string& command) {
  Result r;
  const std::string cmd = command + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline Result Meshtrain(const std::string& args, const std::string& env = "") {
  return Shell(env + " " + kBinary + " " + args);
}

// A fresh directory holding DIR/data: 512 + 64 two-digit addition samples of 13 tokens.
// Returns "" when `data prepare` failed (its result in *prep when given).
inline std::string TinyDataset(Result* prep = nullptr) {
  char tmpl[] = "/tmp/meshtrain-cli-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  Result r = Meshtrain(
      "data prepare --digits 2 --sample-len 13 --train-samples 512 "
      "--eval-samples 64 --out " +
      dir + "/data");
  if (prep) *prep = r;
  return r.exit_code == 0 ? dir : "";
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Writes DIR/NAME.yaml: the 2-layer test GPT on DIR/data over `mesh`, 2 micro-batches (1f1b),
// with `data` and `rest` (the train, eval and checkpoint lines) appended. Returns the path.
inline std::string MeshJob(const std::string& dir, const std::string& name, const std::string& mesh,
                           const std::string& data, const std::string& rest) {
  const std::string path = dir + "/" + name + ".yaml";
  std::ofstream(path) << fmt::format(
      "name: {}\nmodel: {{n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, vocab_size: 256}}\n"
      "data: {{uri: file://{}/data{}}}\nmesh: {}\nparallel: {{micro_batches: 2, schedule: "
      "1f1b}}\n{}",
      name, dir, data, mesh, rest);
  return path;
}

}  // namespace mt::testing

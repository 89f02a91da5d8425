// Forwards worker output to our stdout, each whole line prefixed with its rank ("[rank 2] "),
// one reader thread per worker; lines from different workers never interleave mid-line.
#pragma once

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mt::local {

class OutputPump {
 public:
  ~OutputPump() { Drain(); }
  // Takes ownership of `fd` (closed at end of stream).
  void Add(int fd, std::string prefix);
  // Waits until every stream reached end of file (its process exited).
  void Drain();

 private:
  std::vector<std::thread> readers_;
};

}  // namespace mt::local

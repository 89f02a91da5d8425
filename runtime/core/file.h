// Whole-file I/O with the durability the runtime promises: a written file is complete or
// absent, never torn (temp file + fsync + rename + directory fsync).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mt {

// Reads a whole file. NotFound when missing; errors name the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `data` to `path` atomically: PATH.tmp.PID, fsync, rename over PATH, fsync the
// directory. On error the old PATH (if any) is untouched and the temp file removed.
absl::Status WriteFileAtomic(const std::string& path, std::string_view data);

// The same for a file another writer produces (a library that wants a path): `write` fills
// PATH.tmp.PID, which is then fsynced, renamed over PATH, and the directory fsynced.
absl::Status PublishFileAtomic(const std::string& path,
                               const std::function<absl::Status(const std::string& tmp)>& write);

// Creates a directory and its parents (like mkdir -p).
absl::Status MakeDirs(const std::string& path);

}  // namespace mt

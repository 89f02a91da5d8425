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

// ---- Outputs of commands: never replace what exists unless asked, never half-written ----
// Every command that writes a user-named output (`ckpt export --out`, `data prepare --out`,
// `docs --out`, ...) goes through these two, so they all refuse and replace the same way.

// OK when nothing is at `path`, or when `force`; else AlreadyExists:
// "<flag> PATH: exists (a file|a directory); pass --force to replace it".
absl::Status CheckOutputFree(const std::string& path, bool force, std::string_view flag);

// Writes directory `dir` as a whole: `write` fills DIR.partial.PID (a sibling, so the rename
// stays on one file system); then an existing DIR (call CheckOutputFree first) is moved aside
// to DIR.old.PID, the new one renamed into place and the old one removed. On error the
// partial directory is removed and DIR is as it was.
absl::Status PublishDirAtomic(const std::string& dir,
                              const std::function<absl::Status(const std::string& tmp)>& write);

// Creates a directory and its parents (like mkdir -p).
absl::Status MakeDirs(const std::string& path);

}  // namespace mt

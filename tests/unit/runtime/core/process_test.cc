// Child processes: exit codes and signals, a program that cannot run is Spawn's error, the
// environment rules, descriptors, process groups and clean signal state.
#include "runtime/core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mt::process {
namespace {

using ::testing::HasSubstr;

// Runs `script` under /bin/sh with stdout captured.
std::string Capture(SpawnOptions o, const std::string& script, int* code = nullptr) {
  int out[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  o.argv = {"/bin/sh", "-c", script};
  o.stdout_fd = out[1];
  auto pid = Spawn(o);
  close(out[1]);
  EXPECT_TRUE(pid.ok()) << pid.status();
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, n);
  close(out[0]);
  auto rc = WaitExit(*pid);
  EXPECT_TRUE(rc.ok());
  if (code != nullptr) *code = *rc;
  return text;
}

TEST(Process, ExitCodesAndSignals) {
  auto exits = Spawn({.argv = {"/bin/sh", "-c", "exit 3"}});
  ASSERT_TRUE(exits.ok()) << exits.status();
  EXPECT_EQ(*WaitExit(*exits), 3);
  auto killed = Spawn({.argv = {"/bin/sh", "-c", "kill -TERM $$"}});
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(*WaitExit(*killed), 128 + SIGTERM);
}

TEST(Process, AProgramThatCannotRunIsSpawnsError) {
  auto missing = Spawn({.argv = {"/nonexistent/meshtrain-tool"}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("cannot run /nonexistent/meshtrain-tool: No such file or directory"));
  auto unknown = Spawn({.argv = {"meshtrain-no-such-tool"}, .search_path = true});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  auto found = Spawn({.argv = {"true"}, .search_path = true});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*WaitExit(*found), 0);
}

TEST(Process, EnvironmentAddsReplacesAndDefaults) {
  setenv("MT_PROCESS_TEST_KEEP", "parent", 1);
  setenv("MT_PROCESS_TEST_SET", "parent", 1);
  SpawnOptions o;
  o.env = {"MT_PROCESS_TEST_SET=child"};
  o.env_defaults = {"MT_PROCESS_TEST_KEEP=default", "MT_PROCESS_TEST_NEW=default"};
  EXPECT_EQ(Capture(o, "echo $MT_PROCESS_TEST_KEEP $MT_PROCESS_TEST_SET $MT_PROCESS_TEST_NEW"),
            "parent child default\n");
  SpawnOptions only;
  only.replace_env = true;
  only.env = {"MT_PROCESS_TEST_SET=only"};
  EXPECT_EQ(Capture(only, "echo \"$MT_PROCESS_TEST_KEEP|$MT_PROCESS_TEST_SET\""), "|only\n");
}

TEST(Process, OwnGroupAndCleanSignals) {
  SpawnOptions o;
  o.own_group = true;
  o.clean_signals = true;
  // The child reports its pgid relative to its pid, and whether SIGTERM is blocked/ignored.
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &block, &old);  // as the control service does for sigwait
  const std::string text = Capture(o,
                                   "set -- $(cat /proc/$$/stat); [ \"$5\" -eq $$ ] && echo own; "
                                   "grep SigBlk /proc/self/status");
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_THAT(text, HasSubstr("own"));
  EXPECT_THAT(text, HasSubstr("SigBlk:\t0000000000000000"));
}

}  // namespace
}  // namespace mt::process

// Child processes: exit codes and signals, a program that cannot run is Spawn's error, the
// environment rules, descriptors, process groups and clean signal state.
#include "runtime/core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

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

// ---- ChildGroup: the one way children are supervised and stopped ----

SpawnOptions Sh(const std::string& script, bool own_group = false) {
  return {.argv = {"/bin/sh", "-c", script}, .own_group = own_group};
}

TEST(ChildGroup, NextReturnsEachChildAsItEndsWithItsTag) {
  ChildGroup g;
  ASSERT_TRUE(g.Start(Sh("sleep 0.3; exit 4"), 7).ok());
  ASSERT_TRUE(g.Start(Sh("exit 0"), 3).ok());
  auto first = g.Next(std::chrono::seconds(5));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->tag, 3);
  EXPECT_TRUE(first->clean());
  EXPECT_FALSE(g.Next(std::chrono::milliseconds(0)).has_value());  // the other still runs
  auto second = g.Next(std::chrono::seconds(5));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->tag, 7);
  EXPECT_EQ(second->code, 4);
  EXPECT_EQ(second->Describe(), "exit code 4");
  EXPECT_EQ(g.running(), 0u);
  EXPECT_FALSE(g.Next(std::chrono::seconds(5)).has_value());  // none left: no wait
}

TEST(ChildGroup, StopTermsThenKillsAfterTheGrace) {
  ChildGroup g;
  ASSERT_TRUE(g.Start(Sh("exec sleep 30"), 0).ok());  // ends on SIGTERM
  ASSERT_TRUE(g.Start(Sh("trap '' TERM; while :; do sleep 0.05; done"), 1).ok());  // ignores it
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the trap is set
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ChildGroup::Ended> ended = g.Stop(std::chrono::milliseconds(500));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(ended.size(), 2u);
  std::sort(ended.begin(), ended.end(), [](auto& a, auto& b) { return a.tag < b.tag; });
  EXPECT_EQ(ended[0].code, 128 + SIGTERM);
  EXPECT_EQ(ended[1].code, 128 + SIGKILL);
  EXPECT_EQ(ended[1].Describe(), "killed by signal 9 (KILL)");
  EXPECT_GE(s, 0.45);  // the grace was given
  EXPECT_LT(s, 10.0);
  EXPECT_EQ(g.running(), 0u);
}

TEST(ChildGroup, SignalsReachAChildsWholeGroup) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  ChildGroup g;
  // The grandchild holds the pipe open until a signal to the group ends it too.
  SpawnOptions o = Sh("sleep 30 & wait", /*own_group=*/true);
  o.stdout_fd = fds[1];
  ASSERT_TRUE(g.Start(o, 0).ok());
  close(fds[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  g.Stop(std::chrono::seconds(5));
  char c;
  EXPECT_EQ(read(fds[0], &c, 1), 0);  // end of file: no process of the group is left
  close(fds[0]);
}

TEST(ChildGroup, TheDestructorStopsWhatStillRuns) {
  pid_t pid = -1;
  {
    ChildGroup g;
    auto started = g.Start(Sh("exec sleep 30"), 0);
    ASSERT_TRUE(started.ok());
    pid = *started;
  }
  EXPECT_EQ(kill(pid, 0), -1);  // reaped: no such process
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
}  // namespace mt::process

// main() for tests labelled `gpu`: without a CUDA device the binary reports "skipped" to ctest
// (exit code 77, see mt_add_test) instead of passing silently or failing.
#include <cstdio>

#include "gtest/gtest.h"
#include "runtime/kernels/cuda/device.h"

int main(int argc, char** argv) {
  auto count = mt::cuda::DeviceCount();
  if (!count.ok()) {
    std::fprintf(stderr, "CUDA error while counting devices: %s\n",
                 std::string(count.status().message()).c_str());
    return 1;
  }
  if (*count == 0) {
    std::printf("no CUDA device: skipping GPU tests\n");
    return 77;
  }
  std::printf("running on %s\n", mt::cuda::DeviceName(0).value_or("?").c_str());
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

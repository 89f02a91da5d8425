// Ranks as threads (see ranks.h).
#include "bench/common/ranks.h"

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "runtime/comm/factory.h"
#include "runtime/comm/store.h"
#include "runtime/kernels/cpu/gemm.h"

namespace mt::bench {

void RunRanks(int world, const std::string& name,
              const std::function<void(comm::Backend& world, int rank)>& fn) {
  auto store = comm::MakePrefixStore(name, comm::MakeMemoryStore());
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      cpu::SetCpuThreads(1);
      auto backend = comm::CreateBackend("gloo", store, r, world);
      if (!backend.ok()) {
        std::fprintf(stderr, "rank %d: %s\n", r, backend.status().ToString().c_str());
        std::exit(1);
      }
      fn(**backend, r);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace mt::bench

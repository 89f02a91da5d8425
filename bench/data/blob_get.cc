// Blob read throughput: our az:// store's ranged GETs against `curl` on the same blob and
// server, in one run (bench/data/run.sh starts Azurite). Rows: curl (one connection, whole
// blob), ours on one connection in ranged chunks, ours with k connections (k threads, each
// reading its share in chunks), and k x the one-connection rate for comparison. With
// --static-dir/--static-url, also curl on the same bytes from a plain static file server (what
// the server side costs: Azurite is a Node.js emulator, not a tuned blob service).
//
//   bench/blob_get --endpoint http://127.0.0.1:PORT/devstoreaccount1 [--mb 64] [--chunk-mb 8]
//                  [--connections 4] [--repeat 3] [--static-dir D --static-url U] [--json FILE]
// Goal (issue 8): ours on one connection >= 0.5 x curl.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "fmt/format.h"
#include "runtime/storage/azure_store.h"

namespace {

using namespace mt;
using Clock = std::chrono::steady_clock;

constexpr char kKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Reads [begin, end) in chunks; returns bytes read (or -1 on error).
int64_t ReadRange(storage::BlobStore& store, int64_t begin, int64_t end, int64_t chunk) {
  int64_t got = 0;
  for (int64_t at = begin; at < end; at += chunk) {
    auto part = store.Get("blob.bin", at, std::min(chunk, end - at));
    if (!part.ok()) {
      std::fprintf(stderr, "%s\n", std::string(part.status().message()).c_str());
      return -1;
    }
    got += static_cast<int64_t>(part->size());
  }
  return got;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Blob GET throughput: ours vs curl"};
  std::string endpoint, json_path, static_dir, static_url;
  int mb = 64, chunk_mb = 8, connections = 4, repeat = 3;
  app.add_option("--endpoint", endpoint, "Azurite blob endpoint")->required();
  app.add_option("--mb", mb, "Blob size (MiB)");
  app.add_option("--chunk-mb", chunk_mb, "Ranged GET size (MiB)");
  app.add_option("--connections", connections, "k for the parallel row");
  app.add_option("--repeat", repeat, "Best of this many runs per row");
  app.add_option("--static-dir", static_dir, "Directory a static file server serves");
  app.add_option("--static-url", static_url, "That server's URL for the directory");
  app.add_option("--json", json_path, "Also write JSON");
  CLI11_PARSE(app, argc, argv);

  storage::AzureCredentials creds{"devstoreaccount1", kKey, "", endpoint};
  const std::string uri = "az://devstoreaccount1/bench";
  if (auto s = storage::CreateAzureContainer(uri, creds); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  auto store = std::move(*storage::OpenAzureStore(uri, creds));
  const int64_t size = int64_t{mb} << 20, chunk = int64_t{chunk_mb} << 20;
  std::string data(size, '\0');
  for (int64_t i = 0; i < size; ++i) data[i] = static_cast<char>(i * 131 + 7);
  if (auto s = store->Put("blob.bin", data); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  const std::string sas = *storage::MakeAccountSas(creds, "rl", "2099-01-01T00:00:00Z");

  auto best = [&](auto&& run) {
    double rate = 0;
    for (int r = 0; r < repeat; ++r) rate = std::max(rate, run());
    return rate;
  };
  const double mib = static_cast<double>(size) / (1 << 20);
  const double curl_rate = best([&] {
    const auto t0 = Clock::now();
    const std::string cmd = "curl -s -o /dev/null -H 'x-ms-version: 2021-08-06' '" + endpoint +
                            "/bench/blob.bin?" + sas + "'";
    if (std::system(cmd.c_str()) != 0) return 0.0;
    return mib / Seconds(t0);
  });
  double static_rate = 0;
  if (!static_dir.empty() && !static_url.empty()) {
    std::ofstream(static_dir + "/blob.bin", std::ios::binary) << data;
    static_rate = best([&] {
      const auto t0 = Clock::now();
      const std::string cmd = "curl -sf -o /dev/null '" + static_url + "/blob.bin'";
      if (std::system(cmd.c_str()) != 0) return 0.0;
      return mib / Seconds(t0);
    });
  }
  const double one = best([&] {
    const auto t0 = Clock::now();
    return ReadRange(*store, 0, size, chunk) == size ? mib / Seconds(t0) : 0.0;
  });
  const double many = best([&] {
    std::vector<std::thread> threads;
    std::vector<int64_t> got(connections);
    const int64_t share = (size + connections - 1) / connections;
    const auto t0 = Clock::now();
    for (int k = 0; k < connections; ++k) {
      threads.emplace_back([&, k] {
        got[k] = ReadRange(*store, k * share, std::min(size, (k + 1) * share), chunk);
      });
    }
    for (auto& t : threads) t.join();
    int64_t total = 0;
    for (int64_t g : got) total += g;
    return total == size ? mib / Seconds(t0) : 0.0;
  });

  std::printf("# blob GET, %d MiB blob on Azurite, best of %d\n", mb, repeat);
  std::printf("%-28s %10s %8s\n", "reader", "MiB/s", "vs curl");
  std::printf("%-28s %10.1f %8.2f\n", "curl (1 connection)", curl_rate, 1.0);
  if (static_rate > 0) {
    std::printf("%-28s %10.1f %8.2f\n", "curl, static file server", static_rate,
                static_rate / curl_rate);
  }
  std::printf("%-28s %10.1f %8.2f\n", fmt::format("ours, 1 conn, {} MiB ranges", chunk_mb).c_str(),
              one, one / curl_rate);
  std::printf("%-28s %10.1f %8.2f\n", fmt::format("ours, {} conns", connections).c_str(), many,
              many / curl_rate);
  std::printf("%-28s %10.1f %8.2f\n", fmt::format("{} x ours 1 conn", connections).c_str(),
              connections * one, connections * one / curl_rate);
  if (!json_path.empty()) {
    nlohmann::json j = {{"run", bench::RunInfo()},
                        {"blob_mib", mb},
                        {"chunk_mib", chunk_mb},
                        {"connections", connections},
                        {"curl_mib_s", curl_rate},
                        {"ours_one_mib_s", one},
                        {"ours_k_mib_s", many},
                        {"ours_one_vs_curl", one / curl_rate},
                        {"curl_static_mib_s", static_rate}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}

// `meshtrain ckpt list|inspect|verify|export STORE`: look into a checkpoint store.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "checkpoint/export/safetensors.h"
#include "checkpoint/format/shard.h"
#include "checkpoint/store/store.h"
#include "fmt/format.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/job_setup.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/storage/blob_store.h"

namespace mt::cli {
namespace {

struct CkptArgs {
  std::string store;
  std::string version = "latest";  // or a number; verify also takes "all"
  std::string out;
  std::string format = "safetensors";
  bool force = false;
};

absl::StatusOr<int64_t> PickVersion(ckpt::CheckpointStore& store, const std::string& v) {
  if (v == "latest") return store.Latest();
  int64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || n <= 0) {
    return absl::InvalidArgumentError(fmt::format("--version: '{}' is not latest or a number", v));
  }
  return n;
}

int64_t Bytes(const ckpt::Manifest& m) {
  int64_t b = 0;
  for (const auto& f : m.files) b += f.bytes;
  return b;
}

int RunList(ckpt::CheckpointStore& store) {
  auto committed = store.Committed();
  if (!committed.ok()) return Fail("meshtrain ckpt list", committed.status(), kExitFailure);
  const auto latest = store.Latest();
  std::printf("%-8s %-7s %8s %-15s %5s %10s %-10s %s\n", "version", "latest", "step",
              "mesh dp,tp,pp", "files", "MiB", "loss", "created");
  for (int64_t v : *committed) {
    auto m = store.ReadManifest(v);
    if (!m.ok()) return Fail("meshtrain ckpt list", m.status(), kExitFailure);
    const auto loss = m->metrics.find("loss");
    std::printf("%-8lld %-7s %8lld %-15s %5zu %10.1f %-10s %s\n", static_cast<long long>(v),
                latest.ok() && *latest == v ? "*" : "", static_cast<long long>(m->step),
                fmt::format("{},{},{}", m->mesh[0], m->mesh[1], m->mesh[2]).c_str(),
                m->files.size(), Bytes(*m) / 1048576.0,
                loss == m->metrics.end() ? "-" : fmt::format("{:.4f}", loss->second).c_str(),
                m->created.c_str());
  }
  if (committed->empty()) std::printf("(no committed versions in %s)\n", store.uri().c_str());
  return kExitOk;
}

int RunInspect(ckpt::CheckpointStore& store, const CkptArgs& a) {
  auto v = PickVersion(store, a.version);
  if (!v.ok()) return Fail("meshtrain ckpt inspect", v.status(), kExitInvalid);
  auto m = store.ReadManifest(*v);
  if (!m.ok()) return Fail("meshtrain ckpt inspect", m.status(), kExitFailure);
  std::printf(
      "version %lld of %s\n  step %lld, optimizer step %lld, sample cursor %lld, parent %lld\n"
      "  mesh dp=%lld tp=%lld pp=%lld (%lld ranks), job %s, created %s\n",
      static_cast<long long>(m->version), store.uri().c_str(), static_cast<long long>(m->step),
      static_cast<long long>(m->optimizer_step), static_cast<long long>(m->cursor),
      static_cast<long long>(m->parent), static_cast<long long>(m->mesh[0]),
      static_cast<long long>(m->mesh[1]), static_cast<long long>(m->mesh[2]),
      static_cast<long long>(m->world_size), m->job_hash.c_str(), m->created.c_str());
  for (const auto& [k, val] : m->metrics) std::printf("  metric %s = %g\n", k.c_str(), val);
  for (const ckpt::FileEntry& f : m->files) {
    std::printf("  %s  rank %lld  %lld bytes  xxh64 %s  %zu tensors\n", f.name.c_str(),
                static_cast<long long>(f.rank), static_cast<long long>(f.bytes), f.xxh64.c_str(),
                f.tensors.size());
    auto shard = store.OpenShard(*m, f);
    if (!shard.ok()) return Fail("meshtrain ckpt inspect", shard.status(), kExitFailure);
    for (const ckpt::TensorSlice& t : (*shard)->tensors()) {
      std::printf("    %-40s global [%s] slice [%s] at [%s]\n", t.name.c_str(),
                  fmt::format("{}", fmt::join(t.global_shape, ", ")).c_str(),
                  fmt::format("{}", fmt::join(t.shape, ", ")).c_str(),
                  fmt::format("{}", fmt::join(t.offset, ", ")).c_str());
    }
  }
  return kExitOk;
}

// Exit 0 when every checked version is good, 1 when one is damaged (each problem printed).
int RunVerify(ckpt::CheckpointStore& store, const CkptArgs& a) {
  std::vector<int64_t> versions;
  if (a.version == "all") {
    auto committed = store.Committed();
    if (!committed.ok()) return Fail("meshtrain ckpt verify", committed.status(), kExitFailure);
    versions = *committed;
  } else {
    auto v = PickVersion(store, a.version);
    if (!v.ok()) return Fail("meshtrain ckpt verify", v.status(), kExitInvalid);
    versions = {*v};
  }
  int bad = 0;
  for (int64_t v : versions) {
    auto problems = store.Verify(v);
    if (!problems.ok()) return Fail("meshtrain ckpt verify", problems.status(), kExitFailure);
    if (problems->empty()) {
      std::printf("version %lld: ok (every file's size and xxh64, every tensor's xxh64)\n",
                  static_cast<long long>(v));
      continue;
    }
    ++bad;
    std::printf("version %lld: DAMAGED\n", static_cast<long long>(v));
    for (const std::string& p : *problems) std::printf("  %s\n", p.c_str());
  }
  return bad == 0 ? kExitOk : kExitFailure;
}

// The model's parameters (not the optimizer state) as one safetensors file, with the job in
// its metadata like RUN_DIR/model.safetensors, so `meshtrain generate` loads it.
int RunExport(ckpt::CheckpointStore& store, const CkptArgs& a) {
  if (absl::Status free = CheckOutputFree(a.out, a.force, "--out"); !free.ok()) {
    return Fail("meshtrain ckpt export", free, kExitInvalid);
  }
  auto v = PickVersion(store, a.version);
  if (!v.ok()) return Fail("meshtrain ckpt export", v.status(), kExitInvalid);
  auto m = store.ReadManifest(*v);
  if (!m.ok()) return Fail("meshtrain ckpt export", m.status(), kExitFailure);
  auto tensors =
      store.ReadTensors(*m, [](const std::string& n) { return !n.starts_with("optim."); });
  if (!tensors.ok()) return Fail("meshtrain ckpt export", tensors.status(), kExitFailure);
  std::vector<Tensor> owned;
  owned.reserve(tensors->size());
  std::vector<ckpt::NamedTensor> named;
  for (auto& [name, full] : *tensors) {
    auto t = Tensor::Empty(Shape(full.shape.begin(), full.shape.end()));
    if (!t.ok()) return Fail("meshtrain ckpt export", t.status(), kExitFailure);
    std::copy(full.data.begin(), full.data.end(), t->Data<float>());
    owned.push_back(std::move(*t));
    named.push_back({name, &owned.back()});
  }
  const std::string dir = std::filesystem::path(a.out).parent_path().string();
  if (!dir.empty()) {
    if (absl::Status made = MakeDirs(dir); !made.ok()) {
      return Fail("meshtrain ckpt export", made, kExitFailure);
    }
  }
  absl::Status s =
      ckpt::WriteSafetensors(a.out, named,
                             {{"format", "meshtrain.model"},
                              {"step", std::to_string(m->step)},
                              {"job", m->job},
                              {"checkpoint", fmt::format("{} version {}", store.uri(), *v)}});
  if (!s.ok()) return Fail("meshtrain ckpt export", s, kExitFailure);
  std::printf("exported version %lld (step %lld): %zu tensors to %s\n", static_cast<long long>(*v),
              static_cast<long long>(m->step), named.size(), a.out.c_str());
  return kExitOk;
}

}  // namespace

Command AddCkptCommand(CLI::App& root) {
  auto args = std::make_shared<CkptArgs>();
  CLI::App* ckpt = root.add_subcommand("ckpt", "List, inspect, verify and export checkpoints");
  ckpt->require_subcommand(1);
  ckpt->footer(
      "STORE is a checkpoint store (checkpoint.store of a job): file://PATH, a path, or "
      "az://ACCOUNT/CONTAINER/PREFIX. Versions exist once their manifest is written.");
  CLI::App* list = ckpt->add_subcommand("list", "Committed versions, newest last");
  list->add_option("store", args->store, "Checkpoint store")->required();
  CLI::App* inspect = ckpt->add_subcommand("inspect", "A version's manifest, files and tensors");
  inspect->add_option("store", args->store, "Checkpoint store")->required();
  inspect->add_option("--version", args->version, "latest or a version number");
  CLI::App* verify = ckpt->add_subcommand(
      "verify",
      "Re-read a version's files: size and xxh64 of each file and tensor (exit 1 if damaged)");
  verify->add_option("store", args->store, "Checkpoint store")->required();
  verify->add_option("--version", args->version, "latest, a version number, or all");
  CLI::App* exp = ckpt->add_subcommand("export", "A version's model as one safetensors file");
  exp->footer(
      "Writes the parameters (not the optimizer state) under their meshtrain names; see "
      "docs/checkpoints.md for the map to Hugging Face GPT-2 names and layouts.");
  exp->add_option("store", args->store, "Checkpoint store")->required();
  exp->add_option("--version", args->version, "latest or a version number");
  exp->add_option("--format", args->format, "Output format")->check(CLI::IsMember({"safetensors"}));
  exp->add_option("--out", args->out, "Output file")->required();
  exp->add_flag("--force", args->force, "Replace the output file when it exists");
  return Command{ckpt, [args, list, inspect, verify, exp] {
                   // Every ckpt subcommand reads the store: one that is not there fails
                   // naming it (a typo is not an empty store).
                   auto blobs = storage::OpenBlobStore(args->store);
                   if (!blobs.ok()) return Fail("meshtrain ckpt", blobs.status(), kExitInvalid);
                   if (absl::Status there = (*blobs)->CheckExists(); !there.ok()) {
                     return Fail("meshtrain ckpt", there, kExitInvalid);
                   }
                   auto store = ckpt::CheckpointStore::Open(args->store);
                   if (!store.ok()) return Fail("meshtrain ckpt", store.status(), kExitInvalid);
                   if (*list) return RunList(**store);
                   if (*inspect) return RunInspect(**store, *args);
                   if (*verify) return RunVerify(**store, *args);
                   return RunExport(**store, *args);
                 }};
}

}  // namespace mt::cli

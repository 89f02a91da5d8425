// `meshtrain data prepare ...`: build datasets in the index + shards format.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "fmt/format.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "launcher/cli/job_setup.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/data/addition.h"
#include "runtime/data/dataset.h"
#include "runtime/data/text_dataset.h"
#include "runtime/storage/azure_store.h"
#include "runtime/storage/blob_store.h"
#include "runtime/tokenizer/tokenizer.h"

namespace mt::cli {
namespace {

struct PrepareArgs {
  std::string task = "addition";
  std::string out;
  bool force = false;
  data::AdditionOptions addition;
  bool no_reverse = false;
  data::TextOptions text;  // with --from: a dataset from the user's text
};

struct CopyArgs {
  std::string from, to;
  bool force = false;
};
int RunUpload(const CopyArgs& args);

// A dataset at `uri` (its index exists) is replaced only with --force; remote destinations are
// checked here, local ones by PublishDirAtomic.
absl::Status CheckDatasetFree(const std::string& uri, bool force, std::string_view flag) {
  if (force) return absl::OkStatus();
  auto store = storage::OpenBlobStore(uri);
  if (!store.ok()) return store.status();
  auto index = (*store)->Stat(data::kIndexName);
  if (index.ok()) {
    return absl::AlreadyExistsError(fmt::format(
        "{} {}: a dataset exists there; pass --force to replace it", flag, (*store)->uri()));
  }
  return index.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : index.status();
}

int PrepareExit(const absl::Status& st) {
  return Fail("meshtrain data prepare", st,
              st.code() == absl::StatusCode::kInvalidArgument ||
                      st.code() == absl::StatusCode::kAlreadyExists ||
                      st.code() == absl::StatusCode::kUnimplemented ||
                      st.code() == absl::StatusCode::kNotFound ||
                      st.code() == absl::StatusCode::kDataLoss
                  ? kExitInvalid
                  : kExitFailure);
}

int RunPrepare(PrepareArgs args) {
  args.addition.reverse_answer = !args.no_reverse;
  const bool remote = args.out.find("://") != std::string::npos && !args.out.starts_with("file://");
  const std::string final_uri = args.out;
  std::string local = args.out.starts_with("file://") ? args.out.substr(7) : args.out;
  if (remote) {
    if (absl::Status free = CheckDatasetFree(final_uri, args.force, "--out"); !free.ok()) {
      return PrepareExit(free);
    }
    // Written and verified locally first, then uploaded (index last).
    char tmpl[] = "/tmp/meshtrain-prepare-XXXXXX";
    if (!mkdtemp(tmpl)) return Fail("meshtrain data prepare", absl::InternalError("mkdtemp"), 1);
    local = std::string(tmpl) + "/data";
  }
  if (absl::Status free = CheckOutputFree(local, args.force, "--out"); !free.ok()) {
    return PrepareExit(free);
  }
  std::optional<data::Dataset> ds;
  std::optional<data::TextStats> stats;
  const bool from_text = !args.text.from.empty();
  if (from_text && args.text.tokenizer.empty()) {
    return PrepareExit(absl::InvalidArgumentError("--from: needs --tokenizer"));
  }
  if (from_text) {
    args.text.sample_len = args.addition.sample_len;
    args.text.seed = static_cast<uint64_t>(args.addition.seed);
  }
  // Written aside and renamed into place once re-read: an existing dataset (with --force) is
  // replaced whole or not at all.
  absl::Status st = PublishDirAtomic(local, [&](const std::string& tmp) {
    if (from_text) {
      MT_ASSIGN_OR_RETURN(stats, data::WriteTextDataset(tmp, args.text));
    } else {
      MT_RETURN_IF_ERROR(data::WriteAdditionDataset(tmp, args.addition));
    }
    auto opened = data::Dataset::Open(tmp);  // re-read: proves the index and checksums
    if (!opened.ok()) return opened.status();
    ds.emplace(std::move(*opened));
    return absl::OkStatus();
  });
  if (!st.ok()) return PrepareExit(st);
  if (stats) {
    std::printf(
        "wrote %s: %lld documents (%lld held out for eval, %lld skipped) from %lld files "
        "(%.1f MB), %lld tokens -> %lld train + %lld eval samples of %lld tokens in %zu shards; "
        "%lld tokens dropped (the partial last sample of each split); tokenizer %s, vocab %lld\n",
        final_uri.c_str(), (long long)stats->documents, (long long)stats->eval_documents,
        (long long)stats->skipped, (long long)stats->files, stats->bytes / 1e6,
        (long long)stats->tokens, (long long)stats->train_samples, (long long)stats->eval_samples,
        (long long)ds->index().sample_len, ds->index().shards.size(),
        (long long)stats->dropped_tokens, ds->index().tokenizer.c_str(),
        (long long)ds->index().vocab_size);
  } else {
    std::printf(
        "wrote %s: %ld train + %ld eval samples of %ld tokens in %zu shards (task %s, %d "
        "digits%s)\n",
        final_uri.c_str(), static_cast<long>(ds->Samples("train")),
        static_cast<long>(ds->Samples("eval")), static_cast<long>(ds->index().sample_len),
        ds->index().shards.size(), args.task.c_str(), args.addition.digits,
        args.addition.reverse_answer ? ", answers reversed" : "");
  }
  if (!remote) return kExitOk;
  const int rc = RunUpload({local, final_uri, /*force=*/true});  // checked above
  std::filesystem::remove_all(std::filesystem::path(local).parent_path());
  return rc;
}

// A text dataset's provenance (index.h): its tokenizer, sources and counts.
void PrintProvenance(const std::string& text) {
  if (text.empty()) return;
  const nlohmann::json p = nlohmann::json::parse(text, nullptr, false);
  if (!p.is_object()) return;
  const nlohmann::json& t = p.value("tokenizer", nlohmann::json::object());
  std::printf("tokenizer   %s (%s, vocab %lld, eos %lld)\n", t.value("spec", "?").c_str(),
              t.value("kind", "?").c_str(), t.value("vocab_size", 0LL), t.value("eos", -1LL));
  long long bytes = 0;
  const nlohmann::json& sources = p.value("sources", nlohmann::json::array());
  for (const auto& src : sources) bytes += src.value("bytes", 0LL);
  std::printf("sources     %zu files, %lld bytes (%s)\n", sources.size(), bytes,
              p.value("format", "?").c_str());
  std::printf("documents   %lld (%lld eval, %lld skipped), %lld tokens, %lld dropped\n",
              p.value("documents", 0LL), p.value("eval_documents", 0LL), p.value("skipped", 0LL),
              p.value("tokens", 0LL), p.value("dropped_tokens", 0LL));
}

// Train sample `i` decoded with the tokenizer the dataset records (its spec) or `byte`.
int DecodeSample(const std::string& uri, const data::DatasetIndex& index, int64_t i) {
  std::string spec = index.tokenizer == "byte" ? "byte" : "";
  const nlohmann::json p =
      nlohmann::json::parse(index.provenance.empty() ? "{}" : index.provenance, nullptr, false);
  if (p.is_object() && p.contains("tokenizer")) spec = p["tokenizer"].value("spec", spec);
  if (spec.empty()) {
    return Fail("meshtrain data inspect",
                absl::FailedPreconditionError("--decode: the index records no tokenizer spec"),
                kExitInvalid);
  }
  if (i >= index.Samples("train")) {
    return Fail("meshtrain data inspect",
                absl::InvalidArgumentError(fmt::format(
                    "--decode {}: the train split has {} samples", i, index.Samples("train"))),
                kExitInvalid);
  }
  auto t = tok::OpenTokenizer(spec);
  if (!t.ok()) return Fail("meshtrain data inspect: --decode", t.status(), kExitInvalid);
  auto ds = data::Dataset::Open(uri);
  if (!ds.ok()) return Fail("meshtrain data inspect", ds.status(), kExitFailure);
  std::vector<int32_t> ids(index.sample_len);
  ds->Sample("train", i, ids.data());
  auto text = (*t)->Decode(ids);
  if (!text.ok()) return Fail("meshtrain data inspect: --decode", text.status(), kExitFailure);
  std::printf(
      "train sample %lld (%lld tokens):\n%s\n", static_cast<long long>(i),
      static_cast<long long>(ids.size()),
      nlohmann::json(*text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return kExitOk;
}

// `data inspect URI [--decode N]`: the index as a table (without reading the shards), a text
// dataset's provenance, and train sample N decoded.
int RunInspect(const std::string& uri, int64_t decode) {
  auto store = storage::OpenBlobStore(uri);
  if (!store.ok()) return Fail("meshtrain data inspect", store.status(), kExitInvalid);
  auto text = (*store)->Get(data::kIndexName);
  if (!text.ok()) return Fail("meshtrain data inspect", text.status(), kExitFailure);
  auto index = data::IndexFromJson(*text, (*store)->uri() + "/" + data::kIndexName);
  if (!index.ok()) return Fail("meshtrain data inspect", index.status(), kExitFailure);
  std::printf("%s: tokenizer %s, vocab %ld, %ld tokens per sample, %ld train + %ld eval samples\n",
              (*store)->uri().c_str(), index->tokenizer.c_str(),
              static_cast<long>(index->vocab_size), static_cast<long>(index->sample_len),
              static_cast<long>(index->Samples("train")),
              static_cast<long>(index->Samples("eval")));
  std::printf("%-24s %-6s %10s %12s  %s\n", "shard", "split", "samples", "bytes", "xxh64");
  for (const auto& s : index->shards) {
    std::printf("%-24s %-6s %10ld %12ld  %s\n", s.name.c_str(), s.split.c_str(),
                static_cast<long>(s.samples), static_cast<long>(s.bytes), s.xxh64.c_str());
  }
  PrintProvenance(index->provenance);
  return decode < 0 ? kExitOk : DecodeSample(uri, *index, decode);
}

// `data upload LOCAL URI`: copies a dataset (verified shard by shard, index last).
int RunUpload(const CopyArgs& args) {
  auto from = storage::OpenBlobStore(args.from);
  if (!from.ok()) return Fail("meshtrain data upload", from.status(), kExitInvalid);
  auto to = storage::OpenBlobStore(args.to);
  if (!to.ok()) return Fail("meshtrain data upload", to.status(), kExitInvalid);
  if (absl::Status free = CheckDatasetFree(args.to, args.force, "destination"); !free.ok()) {
    return Fail("meshtrain data upload", free,
                free.code() == absl::StatusCode::kAlreadyExists ? kExitInvalid : kExitFailure);
  }
  if (absl::Status made = storage::EnsureContainer(args.to); !made.ok()) {
    return Fail("meshtrain data upload", made, kExitFailure);
  }
  if (absl::Status s = data::CopyDataset(**from, **to); !s.ok()) {
    return Fail("meshtrain data upload", s, kExitFailure);
  }
  std::printf("uploaded %s -> %s\n", (*from)->uri().c_str(), (*to)->uri().c_str());
  return kExitOk;
}

// `data verify URI`: reads the index and every shard, checking sizes and checksums.
int RunVerify(const std::string& uri) {
  auto ds = data::Dataset::Open(uri);
  if (!ds.ok()) return Fail("meshtrain data verify", ds.status(), kExitFailure);
  int64_t bytes = 0;
  for (const auto& shard : ds->index().shards) bytes += shard.bytes;
  std::printf(
      "%s: ok: %zu shards, %ld bytes, %ld train + %ld eval samples of %ld tokens, "
      "vocab %ld, every checksum matches\n",
      uri.c_str(), ds->index().shards.size(), static_cast<long>(bytes),
      static_cast<long>(ds->Samples("train")), static_cast<long>(ds->Samples("eval")),
      static_cast<long>(ds->index().sample_len), static_cast<long>(ds->index().vocab_size));
  return kExitOk;
}

}  // namespace

Command AddDataCommand(CLI::App& root) {
  auto args = std::make_shared<PrepareArgs>();
  CLI::App* data = root.add_subcommand("data", "Prepare, upload and verify datasets");
  data->require_subcommand(1);
  CLI::App* prepare = data->add_subcommand("prepare", "Write a dataset (index.json + shards)");
  prepare->footer(
      "--task addition: integer addition as byte-tokenised text, zero-padded ('482+037=9150\\n': "
      "the sum written least-significant digit first unless --no-reverse), packed into samples of "
      "--sample-len tokens (model seq_len + 1), with a disjoint held-out problem set as the "
      "eval split.");
  prepare->add_option("--task", args->task, "Synthetic task")->check(CLI::IsMember({"addition"}));
  prepare->add_option("--out", args->out, "Output directory or URI (az://: uploaded)")->required();
  prepare->add_option("--digits", args->addition.digits, "Operand digits")->check(Between(1, 9));
  prepare->add_option("--train-samples", args->addition.train_samples, "Training samples")
      ->check(AtLeast(1));
  prepare->add_option("--eval-samples", args->addition.eval_samples, "Held-out samples")
      ->check(AtLeast(1));
  prepare
      ->add_option("--sample-len", args->addition.sample_len,
                   "Tokens per sample (model seq_len + 1; at least 3 * digits + 4)")
      ->check(AtLeast(2));
  prepare->add_option("--seed", args->addition.seed, "Generator seed");
  prepare->add_flag("--no-reverse", args->no_reverse, "Write sums most-significant digit first");
  prepare->add_flag("--force", args->force, "Replace a dataset that exists at --out");
  prepare->add_option("--from", args->text.from,
                      "Text files or globs (repeatable): a dataset from your text instead of a "
                      "task");
  prepare->add_option("--format", args->text.format, "--from files: text or jsonl")
      ->check(CLI::IsMember({"text", "jsonl"}));
  prepare->add_option("--tokenizer", args->text.tokenizer,
                      "--from: the tokenizer (byte, gpt2:DIR, tiktoken:FILE, hf:PATH, "
                      "sentencepiece:FILE; docs/tokenizers.md)");
  prepare->add_option("--doc-sep", args->text.doc_sep,
                      "--format text: documents are separated by this string (default: a file "
                      "is a document)");
  prepare->add_option("--field", args->text.field, "--format jsonl: the field holding the text");
  prepare
      ->add_option("--eval-fraction", args->text.eval_fraction,
                   "--from: share of documents held out as the eval split")
      ->check(CLI::Range(0.0, 0.5));
  prepare->add_flag("--skip-invalid", args->text.skip_invalid,
                    "--from: count and skip invalid records instead of stopping");

  auto copy = std::make_shared<CopyArgs>();
  CLI::App* upload = data->add_subcommand("upload", "Copy a dataset to another store (az://)");
  upload->footer(
      "Copies LOCAL (a directory or file://) to URI (az://ACCOUNT/CONTAINER/PREFIX with "
      "credentials from AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT + _KEY / "
      "_SAS_TOKEN), verifying every shard; the index goes last, so an interrupted upload "
      "leaves no dataset at URI.");
  upload->add_option("from", copy->from, "Source dataset")->required();
  upload->add_option("to", copy->to, "Destination URI")->required();
  upload->add_flag("--force", copy->force, "Replace a dataset that exists at the destination");
  auto verify_uri = std::make_shared<std::string>();
  CLI::App* verify = data->add_subcommand("verify", "Re-read every shard and check it");
  verify->add_option("uri", *verify_uri, "Dataset URI")->required();
  auto inspect_uri = std::make_shared<std::string>();
  auto inspect_decode = std::make_shared<int64_t>(-1);
  CLI::App* inspect = data->add_subcommand("inspect", "Print a dataset's index");
  inspect->add_option("uri", *inspect_uri, "Dataset URI")->required();
  inspect
      ->add_option("--decode", *inspect_decode,
                   "Also print train sample N decoded with the dataset's tokenizer")
      ->check(AtLeast(0));
  return Command{data,
                 [args, copy, verify_uri, inspect_uri, inspect_decode, upload, verify, inspect] {
                   if (*upload) return RunUpload(*copy);
                   if (*verify) return RunVerify(*verify_uri);
                   if (*inspect) return RunInspect(*inspect_uri, *inspect_decode);
                   return RunPrepare(*args);
                 }};
}

}  // namespace mt::cli

// The schema's own options are consistent, and docs/job-file.md is exactly what the schema
// generates (so the reference cannot drift from the proto).
#include "runtime/job/reference.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "meshtrain/v1/job.pb.h"
#include "meshtrain/v1/options.pb.h"
#include "runtime/job/load.h"
#include "yaml-cpp/yaml.h"

namespace mt::job {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Visits every field of every block reachable from JobSpec.
template <typename Fn>
void ForEachField(const Descriptor& d, const std::string& path, Fn fn) {
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    std::string fpath = path.empty() ? f.name() : path + "." + f.name();
    fn(f, fpath);
    if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f.is_map()) {
      ForEachField(*f.message_type(), fpath, fn);
    }
  }
}

TEST(Schema, EveryFieldIsDocumentedAndDefaultsAreSane) {
  ForEachField(
      *meshtrain::v1::JobSpec::descriptor(), "",
      [](const FieldDescriptor& f, const std::string& path) {
        const auto& doc = f.options().GetExtension(meshtrain::v1::field);
        EXPECT_FALSE(doc.doc().empty()) << path << " has no (field).doc";
        EXPECT_FALSE(doc.required() && !doc.default_value().empty())
            << path << " is required and has a default";
        if (doc.default_value() == "{}") {
          // An always-present block cannot contain required fields: absent, it would fail.
          const Descriptor& block = *f.message_type();
          for (int i = 0; i < block.field_count(); ++i) {
            EXPECT_FALSE(block.field(i)->options().GetExtension(meshtrain::v1::field).required())
                << path << "." << block.field(i)->name() << " is required inside a {} block";
          }
        } else if (!doc.default_value().empty() && doc.choices_size() > 0) {
          bool listed = false;
          for (const auto& c : doc.choices()) listed = listed || c == doc.default_value();
          EXPECT_TRUE(listed) << path << " default is not one of its choices";
        }
      });
}

TEST(Schema, MinimalJobWithEveryBlockAbsentGetsAllDefaults) {
  // If a default literal did not convert, loading would report it against the field.
  LoadResult r = LoadJobText(
      "name: m\nmodel: {n_layer: 1, n_head: 1, d_model: 8, seq_len: 4, vocab_size: 16}\n"
      "data: {uri: /d}\ntrain: {global_batch: 1, steps: 1}\n"
      "checkpoint: {store: /s}\nfinetune: {base: m@production}\n"
      "control: {retrain: {metric: acc, below: 0.5}}\nresources: {tolerations: [{key: k}]}\n",
      "minimal.yaml");
  EXPECT_TRUE(r.ok()) << FormatProblems(r.problems);
}

TEST(Reference, DocsJobFileMatchesTheSchema) {
  std::string on_disk = ReadFile(std::string(MT_SOURCE_DIR) + "/docs/job-file.md");
  ASSERT_FALSE(on_disk.empty()) << "docs/job-file.md missing: run scripts/gen-docs.sh";
  EXPECT_EQ(on_disk, JobFileReference())
      << "docs/job-file.md is out of date: run scripts/gen-docs.sh";
}

TEST(Reference, EveryFieldHasARow) {
  std::string ref = JobFileReference();
  ForEachField(*meshtrain::v1::JobSpec::descriptor(), "",
               [&](const FieldDescriptor& f, const std::string& path) {
                 EXPECT_NE(ref.find("| `" + f.name() + "` |"), std::string::npos) << path;
               });
  EXPECT_NE(ref.find("## `control.promote`"), std::string::npos);
  EXPECT_NE(ref.find("## `resources.tolerations[]`"), std::string::npos);
}

TEST(Examples, EveryExampleJobIsValid) {
  int seen = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(MT_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    YAML::Node root = YAML::LoadFile(entry.path().string());
    if (root["kind"]) continue;  // a Kubernetes manifest, not a job file
    LoadResult r = LoadJobFile(entry.path().string());
    EXPECT_TRUE(r.ok()) << entry.path() << ":\n" << FormatProblems(r.problems);
    ++seen;
  }
  EXPECT_GE(seen, 1);
}

}  // namespace
}  // namespace mt::job

// Job file reference generator (see reference.h).
#include "runtime/job/reference.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "meshtrain/v1/job.pb.h"
#include "meshtrain/v1/options.pb.h"

namespace mt::job {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

std::string ScalarType(const FieldDescriptor& f) {
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return "string";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "bool";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "number";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return "block";
    default:
      return "integer";
  }
}

std::string Anchor(const std::string& path) {
  return absl::StrReplaceAll(path, {{".", "-"}, {"[]", ""}});
}

std::string TypeOf(const FieldDescriptor& f, const std::string& path) {
  if (f.is_map()) {
    return absl::StrCat("map of string to ", ScalarType(*f.message_type()->map_value()));
  }
  std::string base = ScalarType(f);
  if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    base = absl::StrCat("[block](#", Anchor(path), ")");
  }
  return f.is_repeated() ? absl::StrCat("list of ", base) : base;
}

std::string DefaultOf(const FieldDescriptor& f) {
  const auto& doc = f.options().GetExtension(meshtrain::v1::field);
  if (doc.required()) return "**required**";
  if (doc.default_value() == "{}") return "always present";
  if (!doc.default_value().empty()) return absl::StrCat("`", doc.default_value(), "`");
  if (f.is_repeated()) return "empty";
  if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return "absent";
  return f.cpp_type() == FieldDescriptor::CPPTYPE_STRING ? "`\"\"`" : "`0`";
}

std::string MeaningOf(const FieldDescriptor& f) {
  const auto& doc = f.options().GetExtension(meshtrain::v1::field);
  std::string text = doc.doc();
  if (doc.choices_size() > 0) {
    std::vector<std::string> quoted;
    for (const auto& c : doc.choices())
      quoted.push_back(absl::StrCat("`", c.empty() ? "\"\"" : c, "`"));
    absl::StrAppend(&text, " One of ", absl::StrJoin(quoted, ", "), ".");
  }
  return absl::StrReplaceAll(text, {{"|", "\\|"}});
}

// One section per block, depth first, in field order.
void Section(const Descriptor& d, const std::string& path, std::string* out) {
  std::string title = path.empty() ? "Top level" : absl::StrCat("`", path, "`");
  absl::StrAppend(out, "\n## ", title, "\n\n<a id=\"", Anchor(path.empty() ? "top" : path),
                  "\"></a>", d.options().GetExtension(meshtrain::v1::block_doc), "\n\n",
                  "| Key | Type | Default | Meaning |\n|---|---|---|---|\n");
  std::vector<std::pair<const Descriptor*, std::string>> children;
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    std::string fpath = path.empty() ? f.name() : absl::StrCat(path, ".", f.name());
    if (f.is_repeated() && !f.is_map()) absl::StrAppend(&fpath, "[]");
    absl::StrAppend(out, "| `", f.name(), "` | ", TypeOf(f, fpath), " | ", DefaultOf(f), " | ",
                    MeaningOf(f), " |\n");
    if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f.is_map()) {
      children.emplace_back(f.message_type(), fpath);
    }
  }
  for (const auto& [child, cpath] : children) Section(*child, cpath, out);
}

}  // namespace

std::string JobFileReference() {
  std::string out =
      "# Job file reference\n\n"
      "<!-- Generated from proto/meshtrain/v1/job.proto by `meshtrain docs job-file`. Do not\n"
      "     edit: change the proto, then run scripts/gen-docs.sh. A test checks they match. -->\n\n"
      "A job file is YAML whose keys are the fields of the `JobSpec` message. Loading goes\n"
      "YAML -> JSON -> protobuf (unknown keys are errors) -> semantic checks; "
      "`meshtrain validate JOB.yaml [--world N]`\n"
      "prints every problem as `<field.path>: <what is wrong> (found <value>)` and exits 2.\n"
      "Absent keys take the default shown; blocks marked *absent* are off unless written.\n";
  Section(*meshtrain::v1::JobSpec::descriptor(), "", &out);
  return out;
}

}  // namespace mt::job

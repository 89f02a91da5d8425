// Job file loading (see load.h).
#include "runtime/job/load.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/core/text.h"
#include "runtime/job/validate.h"

namespace mt::job {
namespace {

// The source line a YAML parser error points at, trimmed, for the (found ...) part.
std::string SourceLine(const std::string& text, int line0) {
  size_t begin = 0;
  for (int i = 0; i < line0 && begin != std::string::npos; ++i) {
    begin = text.find('\n', begin);
    if (begin != std::string::npos) ++begin;
  }
  if (line0 < 0 || begin == std::string::npos || begin >= text.size()) return "end of file";
  std::string_view line(text.data() + begin, text.find('\n', begin) == std::string::npos
                                                 ? text.size() - begin
                                                 : text.find('\n', begin) - begin);
  return Quote(std::string(text::Trim(line)));
}

bool ParseYaml(const std::string& text, const std::string& source, YAML::Node* root,
               std::vector<Problem>* problems) {
  try {
    *root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    problems->push_back(Problem{source, absl::StrCat("YAML syntax error: ", e.msg),
                                SourceLine(text, e.mark.line), e.mark.line + 1});
    return false;
  }
  if (root->IsNull()) {
    problems->push_back(Problem{source, "job file is empty", "nothing", 0});
    return false;
  }
  return true;
}

// Applies LoadOptions::overrides to the parsed file.
void ApplyOverrides(const std::vector<std::string>& overrides, YAML::Node& root,
                    std::vector<Problem>* problems) {
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    const std::vector<std::string> keys =
        eq == std::string::npos ? std::vector<std::string>{} : absl::StrSplit(o.substr(0, eq), '.');
    const bool bad_key =
        keys.empty() ||
        std::any_of(keys.begin(), keys.end(), [](const std::string& k) { return k.empty(); });
    if (bad_key) {
      problems->push_back(Problem{"--set", "expected KEY.PATH=VALUE", Quote(o), 0});
      continue;
    }
    YAML::Node value;
    try {
      value = YAML::Load(o.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      problems->push_back(Problem{"--set " + o.substr(0, eq),
                                  absl::StrCat("YAML syntax error: ", e.msg), Quote(o), 0});
      continue;
    }
    YAML::Node node = root;
    for (size_t i = 0; i + 1 < keys.size(); ++i) {
      if (!node[keys[i]] || !node[keys[i]].IsMap()) node[keys[i]] = YAML::Node(YAML::NodeType::Map);
      node.reset(node[keys[i]]);
    }
    node[keys.back()] = value;
  }
}

}  // namespace

LoadResult LoadJobText(const std::string& text, const std::string& source,
                       const LoadOptions& options) {
  LoadResult r;
  YAML::Node root;
  if (!ParseYaml(text, source, &root, &r.problems)) return r;
  ApplyOverrides(options.overrides, root, &r.problems);
  if (!r.problems.empty()) return r;
  YamlToJsonResult conv = YamlToJson(root, *meshtrain::v1::JobSpec::descriptor());
  r.lines = std::move(conv.lines);
  if (!conv.problems.empty()) {
    r.problems = std::move(conv.problems);
    return r;
  }
  // The canonical parse. After the descriptor-guided walk it should not fail; if it does, the
  // walk and protobuf disagree, which is reported rather than hidden.
  google::protobuf::util::JsonParseOptions json_options;
  json_options.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(conv.json.dump(), &r.spec, json_options);
  if (!st.ok()) {
    r.problems.push_back(
        Problem{source, absl::StrCat("protobuf JSON parse failed: ", std::string(st.message())),
                "the converted job file", 0});
    return r;
  }
  r.problems = Validate(r.spec, r.lines, options);
  // A problem with an overridden value points at the flag, not at the file's line.
  for (Problem& p : r.problems) {
    for (const std::string& o : options.overrides) {
      const std::string key = o.substr(0, o.find('='));
      if (p.path == key || p.path.starts_with(key + ".")) {
        p.line = 0;
        p.what += " (set by --set)";
      }
    }
  }
  return r;
}

LoadResult LoadJobFile(const std::string& path, const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.problems.push_back(Problem{path, "cannot open job file", "no readable file", 0});
    return r;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return LoadJobText(buf.str(), path, options);
}

absl::StatusOr<meshtrain::v1::JobSpec> LoadJobOrError(const std::string& path,
                                                      const LoadOptions& options) {
  LoadResult r = LoadJobFile(path, options);
  if (!r.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a valid job file:\n", FormatProblems(r.problems)));
  }
  return std::move(r.spec);
}

}  // namespace mt::job

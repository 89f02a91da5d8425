// YAML -> protobuf JSON, guided by the message descriptor.
//
// The walk knows each field's type, so it turns plain YAML scalars into JSON numbers, booleans
// or strings as the schema says, applies (field).default_value for absent fields, reports
// required fields that are missing, unknown keys (with a "did you mean"), duplicate keys,
// wrong types and values outside (field).choices, each with its YAML line. The JSON it emits is
// then parsed by protobuf's own JSON parser (load.cc), which stays the canonical parse.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "nlohmann/json.hpp"
#include "runtime/job/problem.h"
#include "yaml-cpp/yaml.h"

namespace mt::job {

// 1-based YAML line of every field path present in the file ("mesh", "mesh.dp").
using SourceLines = std::map<std::string, int>;

struct YamlToJsonResult {
  nlohmann::json json;  // valid only when problems is empty
  SourceLines lines;
  std::vector<Problem> problems;
};

// Converts a parsed YAML document into JSON for `descriptor`. Never throws.
YamlToJsonResult YamlToJson(const YAML::Node& root, const google::protobuf::Descriptor& descriptor);

// Closest candidate within edit distance 2, or "" (for "did you mean").
std::string ClosestName(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace mt::job

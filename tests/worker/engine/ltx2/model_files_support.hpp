// Shared by the LTX-2.3 model-file tests (test_model_inventory.cpp: the loader's inventory and
// make-weights' plan against ltx-core's; test_model_files.cpp: check-model on files): reading a JSON
// file and the checkpoint's metadata map as the published file carries it.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "common/json_fields.hpp"

namespace ff::ltx2::model_files_test {

inline ff::json::Json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ff::json::parse(ss.str(), "test");
}

// {"config": <config as JSON text>, "model_version": version}: the safetensors metadata of a checkpoint.
inline std::map<std::string, std::string> checkpoint_metadata(const ff::json::Json& config, const std::string& version) {
  return {{"config", (config).dump()}, {"model_version", version}};
}

}  // namespace ff::ltx2::model_files_test

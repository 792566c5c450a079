#include "worker/engine/ltx2/ltx2_json.hpp"

#include <stdexcept>

namespace ff::ltx2 {

json::Json config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& file) {
  auto it = metadata.find("config");
  if (it == metadata.end())
    throw std::invalid_argument(file + ": no \"config\" in the safetensors metadata (not an LTX-2 file?)");
  json::Json v = json::parse(it->second, file + ": metadata \"config\" is not valid JSON");
  if (!v.is_object()) throw std::invalid_argument(file + ": metadata \"config\" is not a JSON object");
  return v;
}

const json::Json& config_section(const json::Json& config, const std::string& section, const std::string& file) {
  auto it = config.find(section);
  if (it == config.end() || !it->is_object())
    throw std::invalid_argument(file + ": config has no \"" + section + "\" object");
  return *it;
}

}  // namespace ff::ltx2

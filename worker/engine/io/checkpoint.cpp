#include "worker/engine/io/checkpoint.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/json_fields.hpp"

namespace ff::io {

namespace fs = std::filesystem;

namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint ck;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors.index.json")) {
      p /= "model.safetensors.index.json";
    } else if (fs::exists(p / "model.safetensors")) {
      p /= "model.safetensors";
    } else {
      throw CheckpointError(path + ": directory holds neither model.safetensors.index.json nor model.safetensors");
    }
  } else if (!fs::exists(p, ec)) {
    throw CheckpointError(path + ": no such file");
  }
  ck.source_ = p.string();
  const std::string name = p.filename().string();
  const bool is_index = name.size() > 5 && name.substr(name.size() - 5) == ".json";
  if (!is_index) {
    auto f = SafetensorsFile::open(p.string());
    ck.files_.push_back(f);
    for (const auto& t : f->tensors()) ck.where_[t.name] = 0;
    ck.metadata_ = f->metadata();
    return ck;
  }

  json::Json root;
  try {
    root = json::parse(read_text_file(p.string()), "bad index");
  } catch (const json::Error& e) {
    throw CheckpointError(ck.source_ + ": " + e.what());
  }
  auto wm = root.is_object() ? root.find("weight_map") : root.end();
  if (wm == root.end() || !wm->is_object())
    throw CheckpointError(ck.source_ + ": bad index: missing object 'weight_map'");
  if (auto md = root.find("metadata"); md != root.end() && md->is_object())
    for (const auto& [k, v] : md->items())
      if (v.is_string()) ck.metadata_[k] = v.get<std::string>();

  std::map<std::string, size_t> file_index;
  const fs::path dir = p.parent_path();
  for (const auto& [tensor, file] : wm->items()) {
    if (!file.is_string())
      throw CheckpointError(ck.source_ + ": bad index: weight_map entry for '" + tensor + "' is not a string");
    const std::string& shard = file.get_ref<const std::string&>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
      throw CheckpointError(ck.source_ + ": bad index: shard name '" + shard + "' for tensor '" + tensor +
                            "' must be a plain file name");
    auto it = file_index.find(shard);
    if (it == file_index.end()) {
      fs::path sp = dir / shard;
      if (!fs::exists(sp))
        throw CheckpointError(ck.source_ + ": shard '" + shard + "' (holding tensor '" + tensor +
                              "') does not exist");
      ck.files_.push_back(SafetensorsFile::open(sp.string()));
      it = file_index.emplace(shard, ck.files_.size() - 1).first;
    }
    const auto& f = ck.files_[it->second];
    if (!f->find(tensor))
      throw CheckpointError(f->path() + ": missing tensor '" + tensor + "' (listed in " + ck.source_ + ")");
    ck.where_[tensor] = it->second;
  }
  return ck;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [n, _] : where_) out.push_back(n);
  return out;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw CheckpointError(source_ + ": missing tensor '" + name + "'");
  return *files_[it->second]->find(name);
}

const std::string& Checkpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw CheckpointError(source_ + ": missing tensor '" + name + "'");
  return files_[it->second]->path();
}

at::Tensor Checkpoint::view(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw CheckpointError(source_ + ": missing tensor '" + name + "'");
  return files_[it->second]->view(name);
}

at::Tensor Checkpoint::get(const std::string& name, at::IntArrayRef expected_shape,
                           std::optional<at::ScalarType> expected_dtype) const {
  const TensorInfo& ti = info(name);
  if (at::IntArrayRef(ti.shape) != expected_shape)
    throw CheckpointError(file_of(name) + ": tensor '" + name + "' has shape " + shape_string(ti.shape) +
                          ", expected " + shape_string(expected_shape));
  if (expected_dtype && ti.scalar_type != *expected_dtype)
    throw CheckpointError(file_of(name) + ": tensor '" + name + "' has dtype " + ti.dtype + ", expected " +
                          safetensors_dtype(*expected_dtype));
  return view(name);
}

}  // namespace ff::io

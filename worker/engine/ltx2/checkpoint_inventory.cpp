#include "worker/engine/ltx2/checkpoint_inventory.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>

#include <unistd.h>

#include "common/json_fields.hpp"
#include "worker/engine/io/checkpoint_error.hpp"

namespace ff::ltx2 {
namespace {

constexpr size_t kMaxListed = 12;

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

std::vector<NamedShape> shapes_of(const std::vector<layers::WeightSlot>& slots) {
  std::vector<NamedShape> out;
  out.reserve(slots.size());
  for (const auto& s : slots) out.push_back({s.name, s.shape});
  return out;
}

bool is_float_dtype(const std::string& dtype) { return !dtype.empty() && (dtype[0] == 'F' || dtype == "BF16"); }

FileSummary check_inventory(const io::Checkpoint& ck, const std::vector<ComponentInventory>& components,
                            const std::vector<std::string>& ignored_prefixes) {
  // name -> (component index, expected shape)
  std::map<std::string, std::pair<size_t, const std::vector<int64_t>*>> expected;
  for (size_t ci = 0; ci < components.size(); ++ci)
    for (const auto& t : components[ci].tensors)
      if (!expected.emplace(t.name, std::make_pair(ci, &t.shape)).second)
        throw std::invalid_argument("inventory lists tensor '" + t.name + "' twice (component " +
                                    components[ci].component + ")");

  FileSummary sum;
  sum.file = ck.source();
  for (const auto& f : ck.files()) sum.file_bytes += static_cast<int64_t>(f->file_size());
  for (const auto& c : components) sum.components.push_back({c.component, 0, 0, 0, c.loaded});
  std::map<std::string, size_t> ignored_index;

  std::vector<std::string> problems;
  size_t problem_count = 0;
  auto problem = [&](const std::string& p) {
    if (problems.size() < kMaxListed) problems.push_back(p);
    ++problem_count;
  };

  for (const std::string& name : ck.names()) {
    const io::TensorInfo& ti = ck.info(name);
    const std::string& file = ck.file_of(name);
    auto it = expected.find(name);
    if (it == expected.end()) {
      const std::string* prefix = nullptr;
      for (const auto& p : ignored_prefixes)
        if (name.rfind(p, 0) == 0) prefix = &p;
      if (!prefix) {
        problem(file + ": unexpected tensor '" + name + "' " + io::shape_string(ti.shape) + " " + ti.dtype);
        continue;
      }
      auto [ii, fresh] = ignored_index.emplace(*prefix, sum.components.size());
      if (fresh) sum.components.push_back({"ignored:" + *prefix, 0, 0, 0, false});
      ComponentSummary& cs = sum.components[ii->second];
      ++cs.tensors;
      cs.params += ti.numel();
      cs.bytes += static_cast<int64_t>(ti.end - ti.begin);
      continue;
    }
    const auto& [ci, shape] = it->second;
    if (ti.shape != *shape) {
      problem(file + ": tensor '" + name + "' has shape " + io::shape_string(ti.shape) + ", expected " +
              io::shape_string(*shape) + " (component " + components[ci].component + ")");
      continue;
    }
    if (!is_float_dtype(ti.dtype)) {
      problem(file + ": tensor '" + name + "' has dtype " + ti.dtype + ", expected a floating dtype (component " +
              components[ci].component + ")");
      continue;
    }
    ComponentSummary& cs = sum.components[ci];
    ++cs.tensors;
    cs.params += numel(ti.shape);
    cs.bytes += static_cast<int64_t>(ti.end - ti.begin);
  }
  for (const auto& [name, where] : expected)
    if (!ck.contains(name))
      problem(ck.source() + ": missing tensor '" + name + "' " + io::shape_string(*where.second) + " (component " +
              components[where.first].component + ")");

  if (problem_count) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i) msg += "\n  " + problems[i];
    if (problem_count > problems.size())
      msg += "\n  ... and " + std::to_string(problem_count - problems.size()) + " more problems";
    throw io::CheckpointError(msg);
  }
  return sum;
}

layers::TensorFetch checkpoint_fetch(const io::Checkpoint& ck, at::Device device, at::ScalarType dtype) {
  return [&ck, device, dtype](const std::string& name, const std::vector<int64_t>& shape) {
    const at::Tensor t = ck.get(name, shape);  // checks presence and shape, names file and tensor
    const io::TensorInfo& ti = ck.info(name);
    if (!is_float_dtype(ti.dtype))
      throw io::CheckpointError(ck.file_of(name) + ": tensor '" + name + "' has dtype " + ti.dtype +
                                ", expected a floating dtype");
    return t.to(device, dtype);
  };
}

void write_header_only_safetensors(const std::string& path, const std::vector<DeclaredTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata) {
  // Built as text: an ordered_json object's insert is linear per key, and a checkpoint has
  // thousands of tensors.
  std::string text = "{";
  if (!metadata.empty()) text += "\"__metadata__\":" + json::Json(metadata).dump();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const size_t elem = io::safetensors_dtype_size(t.dtype);
    if (elem == 0) throw io::CheckpointError(path + ": unknown dtype '" + t.dtype + "' for tensor '" + t.name + "'");
    const uint64_t end = offset + elem * static_cast<uint64_t>(numel(t.shape));
    if (text.size() > 1) text += ",";
    text += json::Json(t.name).dump() + ":" +
            json::Json{{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, end}}}.dump();
    offset = end;
  }
  text += "}";
  while ((8 + text.size()) % 8 != 0) text += ' ';
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw io::CheckpointError(path + ": cannot create: " + std::strerror(errno));
  uint8_t len[8];
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fflush(f) == 0 && ok;
  ok = ok && ::ftruncate(fileno(f), static_cast<off_t>(8 + text.size() + offset)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) throw io::CheckpointError(path + ": write failed: " + std::strerror(errno));
}

}  // namespace ff::ltx2

#include "worker/engine/io/safetensors_writer.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/json_fields.hpp"
#include "worker/engine/io/safetensors.hpp"

namespace ff::io {

uint64_t TensorSpec::bytes() const {
  uint64_t n = c10::elementSize(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

SafetensorsWriter::SafetensorsWriter(std::string path, std::vector<TensorSpec> specs,
                                     const std::map<std::string, std::string>& metadata)
    : path_(std::move(path)), specs_(std::move(specs)) {
  json::Json header = json::Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;  // a std::map: keys sorted
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& s : specs_) {
    if (s.name == "__metadata__" || !seen.insert(s.name).second)
      throw CheckpointError(path_ + ": duplicate or reserved tensor name '" + s.name + "'");
    uint64_t end = offset + s.bytes();
    header[s.name] = {{"dtype", safetensors_dtype(s.dtype)}, {"shape", s.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text += ' ';
  f_ = std::fopen((path_ + ".partial").c_str(), "wb");
  if (!f_) throw CheckpointError(path_ + ".partial: cannot create: " + std::strerror(errno));
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  if (std::fwrite(len, 1, 8, f_) != 8 || std::fwrite(text.data(), 1, text.size(), f_) != text.size())
    throw CheckpointError(path_ + ".partial: write failed: " + std::strerror(errno));
}

SafetensorsWriter::~SafetensorsWriter() {
  if (f_) {
    std::fclose(f_);
    std::error_code ec;
    std::filesystem::remove(path_ + ".partial", ec);
  }
}

std::string SafetensorsWriter::next_name() const { return next_ < specs_.size() ? specs_[next_].name : ""; }

void SafetensorsWriter::write(const at::Tensor& t) {
  if (!f_) throw CheckpointError(path_ + ": writer already finished");
  if (next_ >= specs_.size()) throw CheckpointError(path_ + ": more tensors written than declared");
  const TensorSpec& s = specs_[next_];
  if (t.sizes() != at::IntArrayRef(s.shape))
    throw CheckpointError(path_ + ": tensor '" + s.name + "' has shape " + shape_string(t.sizes()) +
                          ", declared " + shape_string(s.shape));
  at::Tensor c = t.to(at::kCPU, s.dtype).contiguous();
  size_t bytes = c.numel() * c.element_size();
  if (bytes && std::fwrite(c.data_ptr(), 1, bytes, f_) != bytes)
    throw CheckpointError(path_ + ".partial: write failed for tensor '" + s.name + "': " + std::strerror(errno));
  ++next_;
}

void SafetensorsWriter::finish() {
  if (!f_) throw CheckpointError(path_ + ": writer already finished");
  if (next_ != specs_.size())
    throw CheckpointError(path_ + ": finish() before tensor '" + specs_[next_].name + "' was written");
  bool ok = std::fflush(f_) == 0;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
  if (!ok) throw CheckpointError(path_ + ".partial: flush/close failed: " + std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(path_ + ".partial", path_, ec);
  if (ec) throw CheckpointError(path_ + ": rename from .partial failed: " + ec.message());
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, t] : tensors)
    specs.push_back({name, t.scalar_type(), std::vector<int64_t>(t.sizes().begin(), t.sizes().end())});
  SafetensorsWriter w(path, std::move(specs), metadata);
  for (const auto& [_, t] : tensors) w.write(t);
  w.finish();
}

}  // namespace ff::io

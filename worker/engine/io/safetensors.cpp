#include "worker/engine/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/json_fields.hpp"

namespace ff::io {

namespace {

struct DTypeEntry {
  const char* name;
  at::ScalarType type;
  size_t size;
};

const DTypeEntry kDTypes[] = {
    {"F64", at::kDouble, 8}, {"F32", at::kFloat, 4}, {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8}, {"I32", at::kInt, 4},
    {"I16", at::kShort, 2},  {"I8", at::kChar, 1},   {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},
};

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string safetensors_dtype(at::ScalarType t) {
  for (const auto& e : kDTypes)
    if (e.type == t) return e.name;
  throw CheckpointError(std::string("safetensors: no safetensors dtype for torch type ") +
                        c10::toString(t));
}

std::optional<at::ScalarType> scalar_type_from_safetensors(const std::string& dtype) {
  for (const auto& e : kDTypes)
    if (dtype == e.name) return e.type;
  return std::nullopt;
}

size_t safetensors_dtype_size(const std::string& dtype) {
  for (const auto& e : kDTypes)
    if (dtype == e.name) return e.size;
  return 0;
}

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void SafetensorsFile::fail(const std::string& what) const { throw CheckpointError(path_ + ": " + what); }

SafetensorsFile::~SafetensorsFile() {
  if (map_ && map_ != MAP_FAILED) munmap(map_, size_);
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) f->fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    f->fail(std::string("cannot stat: ") + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    f->fail("not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    f->fail("truncated file: " + std::to_string(f->size_) +
            " bytes, shorter than the 8-byte header length");
  }
  // Private writable mapping: views may be written in place without touching the file.
  // MAP_NORESERVE: a 20+ GiB checkpoint must not be charged to the commit limit up front.
  void* m = mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
  int e = errno;
  ::close(fd);
  if (m == MAP_FAILED) f->fail(std::string("mmap failed: ") + std::strerror(e));
  f->map_ = m;
  const auto* base = static_cast<const uint8_t*>(m);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > f->size_ - 8)
    f->fail("truncated file or bad header: header length " + std::to_string(header_len) +
            " exceeds the " + std::to_string(f->size_ - 8) + " bytes after it");
  if (header_len < 2) f->fail("bad header: header length " + std::to_string(header_len) + " is too small");
  std::string_view header(reinterpret_cast<const char*>(base + 8), header_len);
  // Writers may pad the header with trailing spaces to align the data section.
  while (!header.empty() && (header.back() == ' ' || header.back() == '\0')) header.remove_suffix(1);

  json::Json root;
  try {
    // Line and column in the error count within the JSON header (which starts at byte 8).
    root = json::parse(header, "bad header");
  } catch (const json::Error& e) {
    f->fail(e.what());
  }
  if (!root.is_object()) f->fail(std::string("bad header: expected a JSON object, got ") + json::type_of(root));

  f->data_ = base + 8 + header_len;
  f->data_size_ = f->size_ - 8 - header_len;

  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) f->fail("bad header: __metadata__ must be an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) f->fail("bad header: __metadata__ value for '" + k + "' must be a string");
        f->metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { f->fail("bad header: tensor '" + name + "': " + what); };
    if (!entry.is_object()) bad("entry must be an object");
    auto member = [&](const char* key) { auto it = entry.find(key); return it == entry.end() ? nullptr : &*it; };
    const json::Json* dt = member("dtype");
    const json::Json* sh = member("shape");
    const json::Json* off = member("data_offsets");
    if (!dt || !dt->is_string()) bad("missing or non-string 'dtype'");
    if (!sh || !sh->is_array()) bad("missing or non-array 'shape'");
    if (!off || !off->is_array() || off->size() != 2) bad("'data_offsets' must be [begin, end]");
    for (const auto& [k, _] : entry.items())
      if (k != "dtype" && k != "shape" && k != "data_offsets") bad("unknown key '" + k + "'");
    TensorInfo info;
    info.name = name;
    info.dtype = dt->get<std::string>();
    auto st_type = scalar_type_from_safetensors(info.dtype);
    if (!st_type) bad("unsupported dtype '" + info.dtype + "'");
    info.scalar_type = *st_type;
    // nlohmann stores non-negative integer literals as unsigned; anything else (negative, float,
    // beyond uint64) is refused. Offsets above INT64_MAX are refused as the old reader did.
    auto non_negative = [](const json::Json& v) {
      return v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
    };
    for (const auto& d : *sh) {
      if (!non_negative(d)) bad("shape entries must be non-negative integers");
      info.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    }
    for (const auto& o : *off)
      if (!non_negative(o)) bad("data_offsets must be non-negative integers");
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    if (info.begin > info.end) bad("data_offsets begin > end");
    // numel * size, guarding against overflow.
    unsigned __int128 bytes = safetensors_dtype_size(info.dtype);
    for (int64_t d : info.shape) bytes *= static_cast<uint64_t>(d);
    if (bytes != info.end - info.begin)
      bad("byte size " + std::to_string(info.end - info.begin) + " does not match shape " +
          shape_string(info.shape) + " x " + info.dtype);
    if (info.end > f->data_size_)
      f->fail("truncated file: tensor '" + name + "' needs data bytes up to " +
              std::to_string(info.end) + " but the file holds only " + std::to_string(f->data_size_));
    f->index_[name] = f->tensors_.size();
    f->tensors_.push_back(std::move(info));
  }
  // No two tensors may share bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : f->tensors_)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      f->fail("bad header: tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
              "' overlap");
  return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::require(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) fail("missing tensor '" + name + "'");
  return *t;
}

at::Tensor SafetensorsFile::view(const std::string& name) const {
  const TensorInfo& info = require(name);
  size_t elem = safetensors_dtype_size(info.dtype);
  auto* ptr = const_cast<uint8_t*>(data_ + info.begin);
  if (reinterpret_cast<uintptr_t>(ptr) % elem != 0 || info.numel() == 0) return copy(name);
  auto keep = shared_from_this();
  return at::from_blob(
      ptr, info.shape, [keep](void*) {}, at::TensorOptions().dtype(info.scalar_type).device(at::kCPU));
}

at::Tensor SafetensorsFile::copy(const std::string& name) const {
  const TensorInfo& info = require(name);
  at::Tensor out = at::empty(info.shape, at::TensorOptions().dtype(info.scalar_type));
  if (info.end > info.begin) std::memcpy(out.data_ptr(), data_ + info.begin, info.end - info.begin);
  return out;
}

}  // namespace ff::io

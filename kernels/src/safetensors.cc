// The safetensors container format: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), then the
// data; offsets are relative to the end of the header. Every field from the file is treated as
// hostile: lengths, offsets and shapes are bounds- and overflow-checked before any read.
#include "safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swapping here");

namespace plume::kernels {
namespace {

using nlohmann::json;

// A header this large is not a GPT checkpoint; refusing it bounds the JSON parser's memory.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr int64_t kMaxDim = int64_t{1} << 40;

int DTypeBytes(DType d) { return d == DType::kF32 ? 4 : 2; }

Result<DType> ParseDType(const std::string& name, const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  return Fail("tensor '" + name + "': unknown or unsupported dtype '" + s +
              "' (supported: F32, F16, BF16)");
}

Result<TensorView> ParseTensor(const std::string& name, const json& entry,
                               std::span<const uint8_t> data) {
  if (!entry.is_object()) return Fail("tensor '" + name + "': header entry is not an object");
  const auto dtype_it = entry.find("dtype");
  const auto shape_it = entry.find("shape");
  const auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return Fail("tensor '" + name + "': missing or non-string 'dtype'");
  }
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return Fail("tensor '" + name + "': missing or non-array 'shape'");
  }
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
    return Fail("tensor '" + name + "': 'data_offsets' must be two non-negative integers");
  }
  auto dtype = ParseDType(name, dtype_it->get<std::string>());
  if (!dtype) return tl::unexpected(dtype.error());
  TensorView view{*dtype, {}, {}};
  int64_t numel = 1;
  for (const json& d : *shape_it) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(kMaxDim)) {
      return Fail("tensor '" + name + "': shape entries must be non-negative integers below 2^40");
    }
    const int64_t dim = d.get<int64_t>();
    if (__builtin_mul_overflow(numel, dim, &numel) || numel > kMaxDim) {
      return Fail("tensor '" + name + "': shape has too many elements");
    }
    view.shape.push_back(dim);
  }
  const uint64_t begin = (*offsets_it)[0].get<uint64_t>();
  const uint64_t end = (*offsets_it)[1].get<uint64_t>();
  if (begin > end || end > data.size()) {
    return Fail("tensor '" + name + "': data_offsets [" + std::to_string(begin) + ", " +
                std::to_string(end) + "] lie outside the data section (" +
                std::to_string(data.size()) + " bytes; is the file truncated?)");
  }
  const uint64_t expected = static_cast<uint64_t>(numel) * DTypeBytes(view.dtype);
  if (end - begin != expected) {
    return Fail("tensor '" + name + "': data_offsets span " + std::to_string(end - begin) +
                " bytes but dtype x shape needs " + std::to_string(expected));
  }
  view.data = data.subspan(begin, end - begin);
  return view;
}

Status CheckNoOverlap(const std::map<std::string, TensorView>& tensors,
                      std::span<const uint8_t> data) {
  struct Range {
    size_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, view] : tensors) {
    if (view.data.empty()) continue;
    const size_t begin = static_cast<size_t>(view.data.data() - data.data());
    ranges.push_back({begin, begin + view.data.size(), &name});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      return Fail("tensors '" + *ranges[i - 1].name + "' and '" + *ranges[i].name +
                  "' have overlapping data_offsets");
    }
  }
  return {};
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float magnitude = static_cast<float>(mant) * 0x1.0p-24f;
    return sign ? -magnitude : magnitude;
  }
  const uint32_t bits = exp == 31 ? (sign | 0x7F800000u | (mant << 13))
                                  : (sign | ((exp + 112) << 23) | (mant << 13));
  return std::bit_cast<float>(bits);
}

}  // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<SafetensorsFile> ParseSafetensors(std::span<const uint8_t> bytes) {
  if (bytes.size() < 8) {
    return Fail("truncated safetensors file: " + std::to_string(bytes.size()) +
                " bytes, but the header length alone needs 8");
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > bytes.size() - 8) {
    return Fail("safetensors header length " + std::to_string(header_len) +
                " runs past the end of the file (" + std::to_string(bytes.size()) +
                " bytes; truncated or not a safetensors file)");
  }
  if (header_len > kMaxHeaderBytes) return Fail("safetensors header is larger than 100 MiB");
  const auto header_bytes = bytes.subspan(8, header_len);
  const auto data = bytes.subspan(8 + header_len);
  const json header = json::parse(header_bytes.begin(), header_bytes.end(), nullptr, false);
  if (header.is_discarded()) return Fail("safetensors header is not valid JSON");
  if (!header.is_object()) return Fail("safetensors header is not a JSON object");

  SafetensorsFile file;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Fail("safetensors __metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) return Fail("safetensors __metadata__." + key + " is not a string");
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    auto view = ParseTensor(name, entry, data);
    if (!view) return tl::unexpected(view.error());
    file.tensors.emplace(name, std::move(*view));
  }
  if (auto s = CheckNoOverlap(file.tensors, data); !s) return tl::unexpected(s.error());
  return file;
}

std::vector<float> ToFloat(const TensorView& tensor) {
  const size_t n = static_cast<size_t>(tensor.numel());
  std::vector<float> out(n);
  const uint8_t* p = tensor.data.data();
  if (tensor.dtype == DType::kF32) {
    std::memcpy(out.data(), p, n * 4);
    return out;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = tensor.dtype == DType::kBF16 ? std::bit_cast<float>(uint32_t{h} << 16)
                                          : HalfToFloat(h);
  }
  return out;
}

std::string SafetensorsPrefix(
    const std::map<std::string, std::string>& metadata,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, shape] : tensors) {
    uint64_t bytes = sizeof(float);
    for (int64_t d : shape) bytes *= static_cast<uint64_t>(d);
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &header_len, 8);
  return out + text;
}

}  // namespace plume::kernels

// TensorBoard event files (see tensorboard_sink.h).
#include "runtime/metrics/tensorboard_sink.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "fmt/format.h"

namespace mt::metrics {
namespace {

std::array<uint32_t, 256> Crc32cTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // reflected
    t[i] = c;
  }
  return t;
}

// Protobuf wire format, as much as Event needs.
void Varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void Key(std::string& out, int field, int wire_type) { Varint(out, (field << 3) | wire_type); }

template <typename T>
void Fixed(std::string& out, int field, T value) {
  Key(out, field, sizeof(T) == 8 ? 1 : 5);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian hosts (x86, arm64)
  out.append(bytes, sizeof(T));
}

void Bytes(std::string& out, int field, const std::string& value) {
  Key(out, field, 2);
  Varint(out, value.size());
  out += value;
}

double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event header: wall_time (1) and step (2).
std::string EventAt(int64_t step) {
  std::string e;
  Fixed(e, 1, WallTime());
  Key(e, 2, 0);
  Varint(e, static_cast<uint64_t>(step));
  return e;
}

}  // namespace

uint32_t Crc32c(const void* data, size_t n) {
  static const std::array<uint32_t, 256> table = Crc32cTable();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

TensorBoardSink::~TensorBoardSink() {
  if (file_) std::fclose(file_);
}

absl::Status TensorBoardSink::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(fmt::format("{}: cannot create: {}", dir, ec.message()));
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  path_ = fmt::format("{}/events.out.tfevents.{}.{}.{}", dir, static_cast<int64_t>(WallTime()),
                      host, getpid());
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) return absl::InternalError(fmt::format("{}: cannot create", path_));
  std::string e = EventAt(0);
  Bytes(e, 3, "brain.Event:2");
  return WriteEvent(e);
}

absl::Status TensorBoardSink::Scalars(int64_t step,
                                      const std::vector<std::pair<std::string, double>>& values) {
  std::string summary;
  for (const auto& [tag, v] : values) {
    std::string value;
    Bytes(value, 1, tag);
    Fixed(value, 2, static_cast<float>(v));
    Bytes(summary, 1, value);
  }
  std::string e = EventAt(step);
  Bytes(e, 5, summary);
  return WriteEvent(e);
}

absl::Status TensorBoardSink::Restart(int64_t step) {
  std::string log;
  Key(log, 1, 0);
  Varint(log, 1);  // SessionLog.status = START
  std::string e = EventAt(step);
  Bytes(e, 6, log);
  return WriteEvent(e);
}

absl::Status TensorBoardSink::WriteEvent(const std::string& event) {
  const uint64_t length = event.size();
  char header[12];
  std::memcpy(header, &length, 8);
  const uint32_t length_crc = MaskCrc(Crc32c(header, 8));
  std::memcpy(header + 8, &length_crc, 4);
  const uint32_t data_crc = MaskCrc(Crc32c(event.data(), event.size()));
  if (std::fwrite(header, 1, 12, file_) != 12 ||
      std::fwrite(event.data(), 1, event.size(), file_) != event.size() ||
      std::fwrite(&data_crc, 1, 4, file_) != 4 || std::fflush(file_) != 0) {
    return absl::InternalError(fmt::format("{}: write failed", path_));
  }
  return absl::OkStatus();
}

}  // namespace mt::metrics

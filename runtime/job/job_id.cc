// Job id (see job_id.h).
#include "runtime/job/job_id.h"

#include <cstdint>

#include "fmt/format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace mt::job {

std::string JobId(const meshtrain::v1::JobSpec& spec) {
  // Deterministic serialization: the same spec gives the same bytes in every process.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    spec.SerializeToCodedStream(&coded);
  }
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64: tiny, stable, enough for a fingerprint
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{}-{:016x}", spec.name().empty() ? "job" : spec.name(), h);
}

}  // namespace mt::job

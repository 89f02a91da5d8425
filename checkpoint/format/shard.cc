// HDF5 checkpoint shards (see shard.h), with the HDF5 C API and its in-memory core driver.
#include "checkpoint/format/shard.h"

#include <hdf5.h>

#include <mutex>
#include <numeric>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::ckpt {
namespace {

constexpr int64_t kChunkBytes = int64_t{1} << 20;

// HDF5 prints its error stack to stderr by default; we turn failures into Status instead.
void Silence() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// Owns an HDF5 handle.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  operator hid_t() const { return id_; }  // NOLINT: used as the handle it is
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

absl::Status Err(const std::string& what) {
  return absl::InternalError(fmt::format("HDF5: {} failed", what));
}

// ---- attributes ----

// A 1-D array attribute, or a scalar one with `scalar` (header fields).
absl::Status WriteInts(hid_t obj, const char* name, const std::vector<int64_t>& values,
                       bool scalar = false) {
  const hsize_t n = values.size();
  Id space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id attr(H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr, H5T_NATIVE_INT64, values.data()) < 0) return Err(name);
  return absl::OkStatus();
}

absl::Status WriteString(hid_t obj, const char* name, const std::string& value) {
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, std::max<size_t>(1, value.size()));
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  if (!attr.ok() || H5Awrite(attr, type, padded.data()) < 0) return Err(name);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ReadInts(hid_t obj, const char* name) {
  Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return absl::DataLossError(fmt::format("attribute '{}' missing", name));
  Id space(H5Aget_space(attr), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<int64_t> out(std::max<hssize_t>(n, 0));
  if (n <= 0 || H5Aread(attr, H5T_NATIVE_INT64, out.data()) < 0) {
    return absl::DataLossError(fmt::format("attribute '{}' unreadable", name));
  }
  return out;
}

absl::StatusOr<std::string> ReadString(hid_t obj, const char* name) {
  Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return absl::DataLossError(fmt::format("attribute '{}' missing", name));
  Id type(H5Aget_type(attr), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0) {
    return absl::DataLossError(fmt::format("attribute '{}' is not a fixed string", name));
  }
  std::string out(H5Tget_size(type), '\0');
  if (H5Aread(attr, type, out.data()) < 0) {
    return absl::DataLossError(fmt::format("attribute '{}' unreadable", name));
  }
  out.resize(std::strlen(out.c_str()));
  return out;
}

// ---- tensors ----

absl::Status WriteTensor(hid_t group, const TensorSlice& t) {
  const int64_t n =
      std::accumulate(t.shape.begin(), t.shape.end(), int64_t{1}, std::multiplies<int64_t>());
  if (t.shape.empty() || n != static_cast<int64_t>(t.data.size()) || n == 0 ||
      t.global_shape.size() != t.shape.size() || t.offset.size() != t.shape.size()) {
    return absl::InvalidArgumentError(
        fmt::format("checkpoint tensor {}: inconsistent shape", t.name));
  }
  std::vector<hsize_t> dims(t.shape.begin(), t.shape.end()), chunk = dims;
  // Chunks of at most ~1 MiB, cut along the first dimension.
  const int64_t row = n / t.shape[0];
  chunk[0] = std::clamp<hsize_t>(kChunkBytes / 4 / std::max<int64_t>(row, 1), 1, dims[0]);
  Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()) < 0 ||
      H5Pset_fletcher32(dcpl) < 0) {
    return Err("chunked layout for " + t.name);
  }
  Id ds(H5Dcreate2(group, t.name.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
        H5Dclose);
  if (!ds.ok() ||
      H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data.data()) < 0) {
    return Err("writing " + t.name);
  }
  MT_RETURN_IF_ERROR(WriteInts(ds, "global_shape", t.global_shape));
  MT_RETURN_IF_ERROR(WriteInts(ds, "offset", t.offset));
  return WriteString(ds, "dtype", "f32");
}

absl::Status WriteHeader(hid_t file, const ShardHeader& h) {
  MT_RETURN_IF_ERROR(WriteString(file, "magic", kShardMagic));
  MT_RETURN_IF_ERROR(WriteInts(file, "format_version", {kShardFormatVersion}, true));
  MT_RETURN_IF_ERROR(WriteInts(file, "step", {h.step}, true));
  MT_RETURN_IF_ERROR(WriteInts(file, "cursor", {h.cursor}, true));
  MT_RETURN_IF_ERROR(WriteInts(file, "rank", {h.rank}, true));
  MT_RETURN_IF_ERROR(WriteInts(file, "world_size", {h.world_size}, true));
  MT_RETURN_IF_ERROR(WriteInts(file, "mesh", h.mesh));
  MT_RETURN_IF_ERROR(WriteInts(file, "seed", {static_cast<int64_t>(h.seed)}, true));
  return WriteString(file, "job_hash", h.job_hash);
}

absl::StatusOr<ShardHeader> ReadHeader(hid_t file) {
  auto magic = ReadString(file, "magic");
  if (!magic.ok() || *magic != kShardMagic) {
    return absl::DataLossError("not a meshtrain checkpoint shard (no magic)");
  }
  MT_ASSIGN_OR_RETURN(auto version, ReadInts(file, "format_version"));
  if (version[0] != kShardFormatVersion) {
    return absl::DataLossError(fmt::format("shard format version {}; this build reads {}",
                                           version[0], kShardFormatVersion));
  }
  ShardHeader h;
  MT_ASSIGN_OR_RETURN(auto step, ReadInts(file, "step"));
  MT_ASSIGN_OR_RETURN(auto cursor, ReadInts(file, "cursor"));
  MT_ASSIGN_OR_RETURN(auto rank, ReadInts(file, "rank"));
  MT_ASSIGN_OR_RETURN(auto world, ReadInts(file, "world_size"));
  MT_ASSIGN_OR_RETURN(h.mesh, ReadInts(file, "mesh"));
  MT_ASSIGN_OR_RETURN(auto seed, ReadInts(file, "seed"));
  MT_ASSIGN_OR_RETURN(h.job_hash, ReadString(file, "job_hash"));
  h.step = step[0];
  h.cursor = cursor[0];
  h.rank = rank[0];
  h.world_size = world[0];
  h.seed = static_cast<uint64_t>(seed[0]);
  return h;
}

absl::StatusOr<TensorSlice> ReadTensor(hid_t group, const std::string& name, bool data) {
  Id ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) return absl::DataLossError("cannot open the dataset");
  Id space(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank <= 0) return absl::DataLossError("not an array");
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  TensorSlice t;
  t.name = name;
  t.shape.assign(dims.begin(), dims.end());
  MT_ASSIGN_OR_RETURN(t.global_shape, ReadInts(ds, "global_shape"));
  MT_ASSIGN_OR_RETURN(t.offset, ReadInts(ds, "offset"));
  if (t.global_shape.size() != t.shape.size() || t.offset.size() != t.shape.size()) {
    return absl::DataLossError("global_shape/offset do not match the dataset's rank");
  }
  if (!data) return t;
  t.data.resize(H5Sget_simple_extent_npoints(space));
  if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data.data()) < 0) {
    return absl::DataLossError("read failed (Fletcher32 checksum mismatch or damaged chunk)");
  }
  return t;
}

herr_t CollectName(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

}  // namespace

absl::StatusOr<std::string> EncodeShard(const Shard& shard) {
  Silence();
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (H5Pset_fapl_core(fapl, kChunkBytes, /*backing_store=*/0) < 0) return Err("core driver");
  Id file(H5Fcreate("shard.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
  if (!file.ok()) return Err("creating the in-memory file");
  MT_RETURN_IF_ERROR(WriteHeader(file, shard.header));
  {
    Id group(H5Gcreate2(file, "tensors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!group.ok()) return Err("creating /tensors");
    for (const TensorSlice& t : shard.tensors) MT_RETURN_IF_ERROR(WriteTensor(group, t));
  }
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) return Err("flush");
  const ssize_t size = H5Fget_file_image(file, nullptr, 0);
  if (size <= 0) return Err("sizing the file image");
  std::string image(size, '\0');
  if (H5Fget_file_image(file, image.data(), image.size()) != size) return Err("file image");
  return image;
}

absl::StatusOr<Shard> DecodeShard(std::string_view image, const std::string& source,
                                  const std::set<std::string>* only) {
  Silence();
  auto fail = [&](const absl::Status& s, const std::string& tensor = "") {
    return absl::Status(s.code(),
                        fmt::format("{}{}: {}", source, tensor.empty() ? "" : " tensor " + tensor,
                                    std::string(s.message())));
  };
  if (image.size() < 8 || image.substr(0, 8) != "\x89HDF\r\n\x1a\n") {
    return fail(absl::DataLossError("not an HDF5 file"));
  }
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl, kChunkBytes, 0);
  H5Pset_file_image(fapl, const_cast<char*>(image.data()), image.size());
  Id file(H5Fopen(source.c_str(), H5F_ACC_RDONLY, fapl), H5Fclose);
  if (!file.ok()) return fail(absl::DataLossError("HDF5 cannot open it (truncated or damaged)"));
  Shard shard;
  auto header = ReadHeader(file);
  if (!header.ok()) return fail(header.status());
  shard.header = std::move(*header);
  Id group(H5Gopen2(file, "tensors", H5P_DEFAULT), H5Gclose);
  if (!group.ok()) return fail(absl::DataLossError("no /tensors group"));
  std::vector<std::string> names;
  H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, CollectName, &names);
  for (const std::string& name : names) {
    auto t = ReadTensor(group, name, !only || only->count(name) > 0);
    if (!t.ok()) return fail(t.status(), name);
    shard.tensors.push_back(std::move(*t));
  }
  return shard;
}

}  // namespace mt::ckpt

// HDF5 checkpoint shards (see shard.h), with the HDF5 C API and its in-memory core driver.
#include "checkpoint/format/shard.h"

#include <hdf5.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <utility>

#include "fmt/format.h"
#include "runtime/core/hash.h"
#include "runtime/core/status.h"

namespace mt::ckpt {
namespace {

constexpr int64_t kImageIncrement = int64_t{64} << 20;  // core driver growth step

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
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
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

// Object creation properties without modification times (HDF5 stores them by default).
Id NoTimes(hid_t cls) {
  Id plist(H5Pcreate(cls), H5Pclose);
  H5Pset_obj_track_times(plist, 0);
  return plist;
}

absl::Status WriteTensor(hid_t group, const TensorSlice& t) {
  const int64_t n = t.numel();
  if (t.shape.empty() || n <= 0 || t.values() == nullptr ||
      (!t.view && static_cast<int64_t>(t.data.size()) != n) ||
      t.global_shape.size() != t.shape.size() || t.offset.size() != t.shape.size()) {
    return absl::InvalidArgumentError(
        fmt::format("checkpoint tensor {}: inconsistent shape", t.name));
  }
  std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
  Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Id dcpl = NoTimes(H5P_DATASET_CREATE);
  const std::string& dataset = t.dataset.empty() ? t.name : t.dataset;
  Id ds(H5Dcreate2(group, dataset.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
        H5Dclose);
  if (!ds.ok() || H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.values()) < 0) {
    return Err("writing " + t.name);
  }
  MT_RETURN_IF_ERROR(WriteInts(ds, "global_shape", t.global_shape));
  MT_RETURN_IF_ERROR(WriteInts(ds, "offset", t.offset));
  MT_RETURN_IF_ERROR(WriteString(ds, "dtype", "f32"));
  return WriteString(ds, "xxh64", Xxh64Hex(t.values(), n * sizeof(float)));
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

absl::Status WriteContents(hid_t file, const Shard& shard) {
  MT_RETURN_IF_ERROR(WriteHeader(file, shard.header));
  Id gcpl = NoTimes(H5P_GROUP_CREATE);
  Id group(H5Gcreate2(file, "tensors", H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose);
  if (!group.ok()) return Err("creating /tensors");
  for (const TensorSlice& t : shard.tensors) MT_RETURN_IF_ERROR(WriteTensor(group, t));
  return absl::OkStatus();
}

absl::StatusOr<TensorSlice> ReadTensorMeta(hid_t group, const std::string& name) {
  Id ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) return absl::DataLossError("cannot open the dataset");
  Id space(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank <= 0) return absl::DataLossError("not an array");
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  TensorSlice t;
  t.dataset = name;
  t.name = name.substr(0, name.find('#'));
  t.shape.assign(dims.begin(), dims.end());
  MT_ASSIGN_OR_RETURN(t.global_shape, ReadInts(ds, "global_shape"));
  MT_ASSIGN_OR_RETURN(t.offset, ReadInts(ds, "offset"));
  MT_ASSIGN_OR_RETURN(t.xxh64, ReadString(ds, "xxh64"));
  if (t.global_shape.size() != t.shape.size() || t.offset.size() != t.shape.size()) {
    return absl::DataLossError("global_shape/offset do not match the dataset's rank");
  }
  return t;
}

herr_t CollectName(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

}  // namespace

int64_t TensorSlice::numel() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

absl::Status WriteShardFile(const std::string& path, const Shard& shard) {
  Silence();
  Id fcpl = NoTimes(H5P_FILE_CREATE);
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return Err("creating " + path);
  MT_RETURN_IF_ERROR(WriteContents(file, shard));
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) return Err("flushing " + path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> EncodeShard(const Shard& shard) {
  Silence();
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (H5Pset_fapl_core(fapl, kImageIncrement, /*backing_store=*/0) < 0) return Err("core driver");
  Id fcpl = NoTimes(H5P_FILE_CREATE);
  Id file(H5Fcreate("shard.h5", H5F_ACC_TRUNC, fcpl, fapl), H5Fclose);
  if (!file.ok()) return Err("creating the in-memory file");
  MT_RETURN_IF_ERROR(WriteContents(file, shard));
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) return Err("flush");
  const ssize_t size = H5Fget_file_image(file, nullptr, 0);
  if (size <= 0) return Err("sizing the file image");
  std::string image(size, '\0');
  if (H5Fget_file_image(file, image.data(), image.size()) != size) return Err("file image");
  return image;
}

absl::StatusOr<std::unique_ptr<ShardReader>> ShardReader::OpenFile(const std::string& path,
                                                                   const std::string& source) {
  Silence();
  return Adopt(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), source);
}

absl::StatusOr<std::unique_ptr<ShardReader>> ShardReader::OpenImage(std::string_view image,
                                                                    const std::string& source) {
  Silence();
  if (image.size() < 8 || image.substr(0, 8) != "\x89HDF\r\n\x1a\n") {
    return absl::DataLossError(fmt::format("{}: not an HDF5 file", source));
  }
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl, kImageIncrement, 0);
  H5Pset_file_image(fapl, const_cast<char*>(image.data()), image.size());  // HDF5 copies it
  return Adopt(H5Fopen(source.c_str(), H5F_ACC_RDONLY, fapl), source);
}

absl::StatusOr<std::unique_ptr<ShardReader>> ShardReader::Adopt(int64_t file,
                                                                const std::string& source) {
  if (file < 0) {
    return absl::DataLossError(
        fmt::format("{}: HDF5 cannot open it (missing, truncated or damaged)", source));
  }
  std::unique_ptr<ShardReader> r(new ShardReader(file, source));
  MT_RETURN_IF_ERROR(r->Load());
  return r;
}

ShardReader::~ShardReader() { H5Fclose(file_); }

absl::Status ShardReader::Load() {
  auto fail = [&](const absl::Status& s, const std::string& tensor = "") {
    return Annotate(s, tensor.empty() ? source_ : source_ + " tensor " + tensor);
  };
  auto header = ReadHeader(file_);
  if (!header.ok()) return fail(header.status());
  header_ = std::move(*header);
  Id group(H5Gopen2(file_, "tensors", H5P_DEFAULT), H5Gclose);
  if (!group.ok()) return fail(absl::DataLossError("no /tensors group"));
  std::vector<std::string> names;
  if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, CollectName, &names) < 0) {
    return fail(absl::DataLossError("cannot list /tensors"));
  }
  for (const std::string& name : names) {
    auto t = ReadTensorMeta(group, name);
    if (!t.ok()) return fail(t.status(), name);
    tensors_.push_back(std::move(*t));
  }
  return absl::OkStatus();
}

absl::Status ShardReader::Read(const std::string& name, float* dst) const {
  auto it = std::find_if(tensors_.begin(), tensors_.end(),
                         [&](const TensorSlice& t) { return t.dataset == name; });
  if (it == tensors_.end()) {
    return absl::NotFoundError(fmt::format("{}: no tensor {}", source_, name));
  }
  Id ds(H5Dopen2(file_, ("tensors/" + name).c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok() || H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
    return absl::DataLossError(fmt::format("{} tensor {}: read failed", source_, name));
  }
  const std::string sum = Xxh64Hex(dst, it->numel() * sizeof(float));
  if (sum != it->xxh64) {
    return absl::DataLossError(fmt::format("{} tensor {}: checksum mismatch (xxh64 {}, stored {})",
                                           source_, name, sum, it->xxh64));
  }
  return absl::OkStatus();
}

absl::StatusOr<Shard> DecodeShard(std::string_view image, const std::string& source,
                                  const std::set<std::string>* only) {
  MT_ASSIGN_OR_RETURN(auto reader, ShardReader::OpenImage(image, source));
  Shard shard;
  shard.header = reader->header();
  for (TensorSlice t : reader->tensors()) {
    if (!only || only->count(t.name)) {
      t.data.resize(t.numel());
      MT_RETURN_IF_ERROR(reader->Read(t.dataset, t.data.data()));
    }
    shard.tensors.push_back(std::move(t));
  }
  return shard;
}

}  // namespace mt::ckpt

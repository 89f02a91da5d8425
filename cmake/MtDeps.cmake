# Finds every dependency. All come from Debian 12 packages (scripts/install-deps.sh);
# see ../shared/MACHINE-NOTES.md for the quirks of each package's CMake support.
# Required dependencies fail the configure with the package to install; optional ones
# record a feature line for mt_print_feature_summary().

# mt_feature(NAME FOUND DETAIL): one ✓/✗ line of the configure summary. Kept in a global
# property so any directory can add one.
function(mt_feature name found detail)
  if(found)
    set(mark "✓")
  else()
    set(mark "✗")
  endif()
  set_property(GLOBAL APPEND PROPERTY MT_FEATURES "  ${mark} ${name}: ${detail}")
endfunction()

function(mt_print_feature_summary)
  get_property(lines GLOBAL PROPERTY MT_FEATURES)
  list(JOIN lines "\n" text)
  message(STATUS "meshtrain ${PROJECT_VERSION} features:\n${text}")
endfunction()

macro(mt_require name found package)
  if(NOT ${found})
    message(FATAL_ERROR "meshtrain needs ${name}: install the Debian package ${package} "
                        "(scripts/install-deps.sh installs everything)")
  endif()
endmacro()

find_package(Threads REQUIRED)
find_package(absl CONFIG QUIET)
mt_require("Abseil" absl_FOUND libabsl-dev)
find_package(fmt CONFIG QUIET)
mt_require("fmt" fmt_FOUND libfmt-dev)
find_package(yaml-cpp CONFIG QUIET)
mt_require("yaml-cpp" yaml-cpp_FOUND libyaml-cpp-dev)
find_package(nlohmann_json CONFIG QUIET)
mt_require("nlohmann-json" nlohmann_json_FOUND nlohmann-json3-dev)
find_package(CLI11 CONFIG QUIET)
mt_require("CLI11" CLI11_FOUND libcli11-dev)

# Protobuf 3.21 ships no CMake config in Debian: use CMake's FindProtobuf module.
find_package(Protobuf QUIET)
mt_require("Protobuf" Protobuf_FOUND "libprotobuf-dev protobuf-compiler")
find_package(gRPC CONFIG QUIET)
mt_require("gRPC" gRPC_FOUND libgrpc++-dev)
find_program(MT_GRPC_CPP_PLUGIN grpc_cpp_plugin)
mt_require("grpc_cpp_plugin" MT_GRPC_CPP_PLUGIN protobuf-compiler-grpc)
mt_feature("gRPC" ON "${gRPC_VERSION}, Protobuf ${Protobuf_VERSION}")

find_package(HDF5 QUIET COMPONENTS C CXX)
mt_require("HDF5" HDF5_FOUND libhdf5-dev)
mt_feature("HDF5" ON "${HDF5_VERSION}")
find_package(MPI QUIET COMPONENTS CXX)
mt_require("MPI" MPI_CXX_FOUND libopenmpi-dev)
list(GET MPI_CXX_INCLUDE_DIRS 0 MT_MPI_INCLUDE0)
mt_feature("MPI" ON "MPI ${MPI_CXX_VERSION}, ${MT_MPI_INCLUDE0}")
# Gloo: link the target `gloo` (Gloo_LIBRARIES is empty in the Debian package).
find_package(Gloo CONFIG QUIET)
mt_require("Gloo" Gloo_FOUND libgloo-dev)
mt_feature("Gloo" ON "TCP transport")
find_package(CURL QUIET)
mt_require("libcurl" CURL_FOUND libcurl4-openssl-dev)
find_package(OpenSSL QUIET)
mt_require("OpenSSL" OpenSSL_FOUND libssl-dev)
find_package(pugixml CONFIG QUIET)
mt_require("pugixml" pugixml_FOUND libpugixml-dev)
find_package(SQLite3 QUIET)
mt_require("SQLite3" SQLite3_FOUND libsqlite3-dev)
find_package(PkgConfig QUIET)
pkg_check_modules(XXHASH QUIET IMPORTED_TARGET libxxhash)
mt_require("xxHash" XXHASH_FOUND libxxhash-dev)
# Tokenizers: PCRE2 (8-bit, JIT) for the split patterns, SentencePiece for .model files.
pkg_check_modules(PCRE2 QUIET IMPORTED_TARGET libpcre2-8)
mt_require("PCRE2" PCRE2_FOUND libpcre2-dev)
pkg_check_modules(SENTENCEPIECE QUIET IMPORTED_TARGET sentencepiece)
mt_require("SentencePiece" SENTENCEPIECE_FOUND libsentencepiece-dev)
# OpenBLAS, OpenMP build: our kernels use OpenMP too, and the pthread build's spinning
# threads fight OpenMP's for the same cores (measured: 5.5k vs 9.4k tokens/s on the quickstart
# model, bench/RESULTS.md). Debian installs both builds side by side; the runtime path
# (RUNPATH) makes the loader pick the OpenMP one whatever the alternatives link says.
find_library(MT_OPENBLAS_LIBRARY openblas
             PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
             NO_DEFAULT_PATH)
mt_require("OpenBLAS (OpenMP build)" MT_OPENBLAS_LIBRARY libopenblas-openmp-dev)
get_filename_component(MT_OPENBLAS_DIR ${MT_OPENBLAS_LIBRARY} DIRECTORY)
add_library(mt::openblas SHARED IMPORTED)
set_target_properties(mt::openblas PROPERTIES IMPORTED_LOCATION ${MT_OPENBLAS_LIBRARY}
                      INTERFACE_LINK_OPTIONS "-Wl,-rpath,${MT_OPENBLAS_DIR}")
# Debian's /usr/include/.../cblas.h is an alternatives link that may point at another BLAS:
# take OpenBLAS's own header so declarations match the library linked.
find_path(MT_CBLAS_INCLUDE_DIR cblas.h
          PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/x86_64-linux-gnu/openblas-pthread
                /usr/include/openblas
          NO_DEFAULT_PATH)
find_path(MT_CBLAS_INCLUDE_DIR cblas.h)
mt_feature("BLAS" ON "OpenBLAS, OpenMP build (${MT_OPENBLAS_LIBRARY})")
find_package(OpenMP QUIET COMPONENTS CXX)
mt_require("OpenMP" OpenMP_CXX_FOUND "gcc (libgomp)")

if(MT_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  mt_require("GoogleTest" GTest_FOUND "libgtest-dev libgmock-dev")
  find_package(benchmark CONFIG QUIET)
  mt_require("Google Benchmark" benchmark_FOUND libbenchmark-dev)
endif()

find_program(MT_CLANG_FORMAT clang-format)
if(MT_CLANG_FORMAT)
  mt_feature("clang-format" ON "${MT_CLANG_FORMAT}")
else()
  mt_feature("clang-format" OFF "not found: scripts/lint.sh cannot check formatting")
endif()
if(MT_CCACHE)
  mt_feature("ccache" ON "${MT_CCACHE}")
else()
  mt_feature("ccache" OFF "not found: every build compiles from scratch")
endif()
if(MT_SANITIZE)
  mt_feature("sanitizers" ON "${MT_SANITIZE}")
endif()

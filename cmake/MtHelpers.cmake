# Helpers that give every module, test and backend the same shape.
#
#   mt_add_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
#       One static library per module folder, target `mt_<name>`, alias `mt::<name>`.
#       Include paths are rooted at the repository ("runtime/core/status.h").
#   mt_add_test(NAME SOURCES ... [DEPS ...] [LABELS unit|integration|e2e|gpu ...]
#               [TIMEOUT s] [ENVIRONMENT k=v ...])
#       A GoogleTest binary registered with ctest under the given labels (default: unit).
#       With the gpu label it is skipped (not passed) when no CUDA device is present.
#   mt_add_backend(NAME SOURCES ... [DEPS ...] [REQUIRES var ...])
#       A comm backend module, built only when every REQUIRES variable is true; records a
#       ✓/✗ feature line and defines MT_HAVE_BACKEND_<NAME> on mt::comm users.

function(mt_target_defaults target)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${MT_CXX_WARNINGS}>)
endfunction()

function(mt_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(mt_${name} STATIC ${ARG_SOURCES})
  add_library(mt::${name} ALIAS mt_${name})
  mt_target_defaults(mt_${name})
  target_link_libraries(mt_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

function(mt_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS;ENVIRONMENT" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  mt_target_defaults(${name})
  # gpu tests get a main() that exits 77 (ctest: skipped) when no CUDA device is visible.
  if("gpu" IN_LIST ARG_LABELS)
    set(test_main mt_gpu_test_main)
  else()
    set(test_main GTest::gtest_main)
  endif()
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock ${test_main})
  target_compile_definitions(${name} PRIVATE MT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             MT_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  # Exit code 77 is how a gpu test reports "skipped: no device" (tests/support/gpu_main.cc).
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
                                          SKIP_RETURN_CODE 77
                                          ENVIRONMENT "${ARG_ENVIRONMENT}")
endfunction()

function(mt_add_backend name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;REQUIRES" ${ARGN})
  foreach(var IN LISTS ARG_REQUIRES)
    if(NOT ${var})
      mt_feature("backend ${name}" OFF "needs ${var}")
      return()
    endif()
  endforeach()
  mt_add_module(comm_${name} SOURCES ${ARG_SOURCES} PUBLIC_DEPS ${ARG_DEPS})
  string(TOUPPER ${name} upper)
  target_compile_definitions(mt_comm_${name} PUBLIC MT_HAVE_BACKEND_${upper}=1)
  mt_feature("backend ${name}" ON "mt::comm_${name}")
endfunction()

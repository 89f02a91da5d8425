# Compiler launcher (ccache), warnings and sanitizers shared by every target.

find_program(MT_CCACHE ccache)
if(MT_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${MT_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MT_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${MT_CCACHE})
endif()

# Warnings apply to our own C++ sources only (added per target in mt_target_defaults).
set(MT_CXX_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wnon-virtual-dtor)

if(MT_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${MT_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=${MT_SANITIZE})
endif()

# mt_add_proto_library(NAME PROTOS a.proto ... [GRPC] [DEPS ...])
# Generates C++ (and gRPC stubs with GRPC) for .proto files under proto/, into the build tree
# with the same relative paths, so code includes "meshtrain/v1/job.pb.h".

function(mt_add_proto_library name)
  cmake_parse_arguments(ARG "GRPC" "" "PROTOS;DEPS" ${ARGN})
  set(proto_root ${PROJECT_SOURCE_DIR}/proto)
  set(out_root ${PROJECT_BINARY_DIR}/proto)
  file(MAKE_DIRECTORY ${out_root})
  set(srcs "")
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(abs ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${proto_root} ${abs})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(outs ${out_root}/${stem}.pb.cc ${out_root}/${stem}.pb.h)
    set(plugin_args "")
    if(ARG_GRPC)
      list(APPEND outs ${out_root}/${stem}.grpc.pb.cc ${out_root}/${stem}.grpc.pb.h)
      set(plugin_args --grpc_out=${out_root} --plugin=protoc-gen-grpc=${MT_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc --proto_path=${proto_root} --cpp_out=${out_root} ${plugin_args}
              ${abs}
      DEPENDS ${abs} protobuf::protoc
      COMMENT "protoc ${rel}")
    list(APPEND srcs ${outs})
  endforeach()
  add_library(mt_${name} STATIC ${srcs})
  add_library(mt::${name} ALIAS mt_${name})
  target_include_directories(mt_${name} PUBLIC ${out_root})
  target_link_libraries(mt_${name} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  if(ARG_GRPC)
    target_link_libraries(mt_${name} PUBLIC gRPC::grpc++)
  endif()
endfunction()

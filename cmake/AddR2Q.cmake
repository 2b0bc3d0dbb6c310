# r2q_add_library(name sources... [DEPENDS targets...] [LINK_LIBS libs...])
#
# Adds a static r2q library. Libraries that use MLIR name `MLIR` in LINK_LIBS:
# every r2q binary links the one shared libMLIR.so, never the static MLIR
# component libraries, so a plugin loaded into upstream mlir-opt shares its
# globals (dialect registrations, type ids) with the host.
function(r2q_add_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_UNPARSED_ARGUMENTS})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  if(ARG_LINK_LIBS)
    target_link_libraries(${name} PUBLIC ${ARG_LINK_LIBS})
  endif()
endfunction()

# r2q_add_doc(td_file output.md tablegen-flags...)
#
# Generates Markdown documentation from ODS and copies it into
# docs/generated/, so the committed docs always match the definitions.
function(r2q_add_doc td_file output_name)
  set(LLVM_TARGET_DEFINITIONS ${td_file})
  mlir_tablegen(${output_name} ${ARGN})
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/${output_name})
  set(committed ${R2Q_SOURCE_DIR}/docs/generated/${output_name})
  add_custom_command(OUTPUT ${committed}
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${generated} ${committed}
    DEPENDS ${generated}
    COMMENT "Updating docs/generated/${output_name}")
  get_filename_component(doc_name ${output_name} NAME_WE)
  add_custom_target(R2QDoc${doc_name} ALL DEPENDS ${committed})
endfunction()

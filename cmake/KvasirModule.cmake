# Our own code compiles with warnings as errors.
function(kvasir_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
endfunction()

# kvasir_module(NAME SOURCES... DEPS ...)
#
# One static library per module. Each module gets an include root of its own
# (build/inc/<name>/<name> -> source/<name>), so `#include "engine/x.h"` only
# resolves in targets that link the engine library: an include against the
# dependency direction fails to compile instead of silently working.
function(kvasir_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(inc ${CMAKE_BINARY_DIR}/inc/${name})
  file(MAKE_DIRECTORY ${inc})
  if(NOT EXISTS ${inc}/${name})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${name} ${inc}/${name} SYMBOLIC)
  endif()
  add_library(kvasir_${name} STATIC ${ARG_SOURCES})
  target_include_directories(kvasir_${name} PUBLIC ${inc})
  target_link_libraries(kvasir_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  kvasir_warnings(kvasir_${name})
endfunction()

# kvasir_test(NAME SOURCES... DEPS ...): a GoogleTest binary registered with CTest.
# Tests run with the repository's folder as working directory, so they find
# ../shared/ beside the checkout as CI does.
function(kvasir_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} kvasir_testing GTest::gmock GTest::gtest_main)
  kvasir_warnings(${name})
  target_compile_options(${name} PRIVATE ${KVASIR_TEST_OPT})
  target_precompile_headers(${name} REUSE_FROM kvasir_test_pch)
  # The CTest tests: one per case, or chunks of a large suite's cases
  # (KvasirTestList.cmake), listed from the binary each time it links.
  set(list_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_tests.cmake)
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_include.cmake)
  string(REPLACE ";" "," labels "${ARG_LABELS}")
  add_custom_command(TARGET ${name} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -D EXE=$<TARGET_FILE:${name}> -D OUT=${list_file}
            -D WORKDIR=${CMAKE_SOURCE_DIR} -D LABELS=${labels}
            -D CHUNK=32
            -P ${PROJECT_SOURCE_DIR}/cmake/KvasirTestList.cmake
    BYPRODUCTS ${list_file}
    VERBATIM)
  file(WRITE ${include_file}
       "if(EXISTS [==[${list_file}]==])\n"
       "  include([==[${list_file}]==])\n"
       "else()\n"
       "  add_test(${name}_NOT_BUILT ${name}_NOT_BUILT)\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()

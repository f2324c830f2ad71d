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
  target_precompile_headers(${name} REUSE_FROM kvasir_test_pch)
  set(props "")
  if(ARG_LABELS)
    set(props PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    DISCOVERY_TIMEOUT 60
    ${props})
endfunction()

# cmake -P script, run after a test binary links (kvasir_test()): lists its
# GoogleTest cases and writes the CTest file that registers them.
#
# A suite of at most CHUNK cases gets one CTest test per case
# ("Suite.Case"), as gtest_discover_tests does: server suites whose cases
# take seconds each stay parallel, and a case that skips shows as skipped.
# A larger suite (the value-parameterized sweeps: 1,080 paged-attention
# cases, 55 encoder cases) runs in chunks of at most CHUNK cases per process
# ("Suite.part2of34"). Each process costs about 0.25 s before the first
# case under ASan (loading, LeakSanitizer's scan at exit): 1,080 of them
# took longer than the cases themselves. A chunk passes when each of its
# cases passes or skips; its output names them.
#
# Variables: EXE (the test binary), OUT (the CTest file to write), WORKDIR,
# LABELS (a ,-list, may be empty), CHUNK.
execute_process(COMMAND "${EXE}" --gtest_list_tests
  OUTPUT_VARIABLE listing RESULT_VARIABLE rc ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --gtest_list_tests failed (${rc}): ${err}")
endif()

# --gtest_list_tests prints "Suite." lines, then "  Case" lines; either may
# end in "  # GetParam() = ..." or "  # TypeParam = ...".
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(suites "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE " *#.*$" "" line "${line}")
  if(line MATCHES "^([^ ].*)\\.$")
    set(suite "${CMAKE_MATCH_1}")
    string(MAKE_C_IDENTIFIER "${suite}" var)
    list(APPEND suites "${suite}")
    set(cases_${var} "")
  elseif(line MATCHES "^  +([^ ]+)$")
    list(APPEND cases_${var} "${suite}.${CMAKE_MATCH_1}")
  endif()
endforeach()

set(props "WORKING_DIRECTORY [==[${WORKDIR}]==]")
if(LABELS)
  string(REPLACE "," ";" labels "${LABELS}")
  string(APPEND props " LABELS [==[${labels}]==]")
endif()
set(text "")
# A test of one case that skips is reported as skipped (as
# gtest_discover_tests does); a chunk is not, since the same pattern would
# hide its other cases' failures. (A function: a macro would parse the
# pattern's backslashes again.)
set(skip_props " SKIP_REGULAR_EXPRESSION [==[\\[  SKIPPED \\]]==]")
function(kvasir_add_test name filter extra_props)
  string(APPEND text "add_test([==[${name}]==] [==[${EXE}]==] "
                     "[==[--gtest_filter=${filter}]==])\n"
                     "set_tests_properties([==[${name}]==] PROPERTIES "
                     "${props}${extra_props})\n")
  set(text "${text}" PARENT_SCOPE)
endfunction()
foreach(suite IN LISTS suites)
  string(MAKE_C_IDENTIFIER "${suite}" var)
  set(cases "${cases_${var}}")
  list(LENGTH cases n)
  if(n LESS_EQUAL CHUNK)
    foreach(c IN LISTS cases)
      kvasir_add_test("${c}" "${c}" "${skip_props}")
    endforeach()
    continue()
  endif()
  math(EXPR parts "(${n} + ${CHUNK} - 1) / ${CHUNK}")
  foreach(p RANGE 1 ${parts})
    math(EXPR first "(${p} - 1) * ${CHUNK}")
    list(SUBLIST cases ${first} ${CHUNK} chunk)
    list(JOIN chunk ":" filter)
    kvasir_add_test("${suite}.part${p}of${parts}" "${filter}" "")
  endforeach()
endforeach()
file(WRITE "${OUT}" "${text}")

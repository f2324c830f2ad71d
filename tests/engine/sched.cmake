# Scheduler and engine tests (issue 4). All carry the CTest label `sched`.
kvasir_test(scheduler_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/scheduler_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/sched_harness.cc
  DEPS kvasir_engine
  LABELS sched)
kvasir_test(scheduler_budget_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/scheduler_budget_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/sched_harness.cc
  DEPS kvasir_engine
  LABELS sched)
kvasir_test(engine_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tenant_rules_test.cc
  DEPS kvasir_engine
  LABELS sched)

# With the real Llama runner (engine/model/llama_runner.h).
if(EXISTS ${CMAKE_SOURCE_DIR}/engine/model/llama_runner.h)
  kvasir_test(engine_golden_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_golden_test.cc
    DEPS kvasir_engine nlohmann_json::nlohmann_json
    LABELS sched)
  kvasir_test(generate_command_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/generate_command_test.cc
    DEPS kvasir_engine nlohmann_json::nlohmann_json
    LABELS sched)
  add_dependencies(generate_command_test kvasir)  # runs the real binary
endif()

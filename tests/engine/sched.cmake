# Scheduler and engine tests (issue 4).
kvasir_test(scheduler_test
  SOURCES scheduler_test.cc sched_harness.cc
  DEPS kvasir_engine
  LABELS sched)
kvasir_test(engine_test
  SOURCES engine_test.cc
  DEPS kvasir_engine
  LABELS sched)

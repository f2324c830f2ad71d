# Decoder tests: ops (matmul, norms, RoPE, SwiGLU, bf16), paged attention,
# the Llama runner against a naive reference, and KV-head conversion.
add_library(kvasir_decoder_testing STATIC
  ${CMAKE_CURRENT_LIST_DIR}/decoder_test_util.cc)
target_link_libraries(kvasir_decoder_testing PUBLIC kvasir_testing kvasir_engine)
kvasir_warnings(kvasir_decoder_testing)

# All carry the CTest label `decoder`: ctest -L decoder.
kvasir_test(ops_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ops_test.cc
  DEPS kvasir_engine LABELS decoder)
kvasir_test(attention_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/attention_test.cc
  DEPS kvasir_engine LABELS decoder)
kvasir_test(llama_runner_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/llama_runner_test.cc
  DEPS kvasir_decoder_testing LABELS decoder)
kvasir_test(kv_heads_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/kv_heads_test.cc
  DEPS kvasir_decoder_testing LABELS decoder)

# Real checkpoints against ../shared/golden; needs the model loaders
# (engine/model/loader.h), so it is built once they are in the tree.
if(EXISTS ${CMAKE_SOURCE_DIR}/engine/model/loader.h)
  kvasir_test(llama_runner_golden_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/llama_runner_golden_test.cc
    DEPS kvasir_decoder_testing nlohmann_json::nlohmann_json LABELS decoder)
endif()

# No heap allocation per step (replaces the global operator new).
kvasir_test(step_alloc_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/step_alloc_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/sched_harness.cc
  DEPS kvasir_decoder_testing LABELS decoder)

# The synth models of real architectures (quantized, BPE, Qwen2/3) against
# llama.cpp's exact math in ../shared/golden/synth.
kvasir_test(synth_golden_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/synth_golden_test.cc
  DEPS kvasir_decoder_testing nlohmann_json::nlohmann_json LABELS decoder)

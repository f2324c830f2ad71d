# Model loading, tokenizers, dummy models and sampling.
kvasir_test(gguf_test SOURCES gguf_test.cc DEPS kvasir_engine)
kvasir_test(tokenizer_test SOURCES tokenizer_test.cc
            DEPS kvasir_engine nlohmann_json::nlohmann_json)
kvasir_test(llama2c_test SOURCES llama2c_test.cc DEPS kvasir_engine)
kvasir_test(dummy_model_test SOURCES dummy_model_test.cc loader_test.cc
            DEPS kvasir_engine)
kvasir_test(sampler_test SOURCES sampler_test.cc stop_matcher_test.cc
            DEPS kvasir_engine)
kvasir_test(inspect_command_test SOURCES inspect_command_test.cc
            DEPS kvasir_engine nlohmann_json::nlohmann_json)
add_dependencies(inspect_command_test kvasir)  # runs the real binary
kvasir_test(quant_model_test SOURCES quant_model_test.cc
            DEPS kvasir_decoder_testing)

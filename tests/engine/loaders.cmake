# Model loading, tokenizers, dummy models and sampling.
kvasir_test(gguf_test SOURCES gguf_test.cc DEPS kvasir_engine)
kvasir_test(tokenizer_test SOURCES tokenizer_test.cc
            DEPS kvasir_engine nlohmann_json::nlohmann_json)

# Byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2, DeepSeek), special
# tokens and the end-of-generation tokens in the output processor.
kvasir_test(bpe_tokenizer_test
            SOURCES bpe_tokenizer_test.cc bpe_pretokenizer_test.cc
                    bpe_test_vocab.cc
            DEPS kvasir_engine nlohmann_json::nlohmann_json)
kvasir_test(output_processor_test
            SOURCES output_processor_test.cc bpe_test_vocab.cc
            DEPS kvasir_engine)

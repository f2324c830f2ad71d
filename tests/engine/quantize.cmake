# Quantization: the block encoders, the GGUF writer and `kvasir quantize`.
kvasir_test(quant_encode_test SOURCES quant_encode_test.cc DEPS kvasir_engine)
kvasir_test(quantize_command_test
            SOURCES quantize_command_test.cc gguf_writer_test.cc
            DEPS kvasir_engine)
add_dependencies(quantize_command_test kvasir)  # runs the real binary

# Quantized block formats (quant_formats_test) and their matmul kernels
# (quant_linear_test), one binary.
kvasir_test(quant_test SOURCES quant_formats_test.cc quant_linear_test.cc
            DEPS kvasir_engine)

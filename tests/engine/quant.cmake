# Quantized block formats and their matmul kernels.
kvasir_test(quant_test SOURCES quant_test.cc DEPS kvasir_engine)

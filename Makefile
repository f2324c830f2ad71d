# Thin wrapper over CMake/CTest. `make serve` and `make test` work on a fresh
# Debian 12 machine: they install missing packages first.
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
FUZZ_DIR  ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS      ?= $(shell nproc)
# Tests run two per core: many of them spend their time waiting on a child
# server process (start-up, drain), and CTest's -j counts those as busy.
TEST_JOBS ?= $(shell echo $$(( $(JOBS) * 2 )))
CONFIG    ?= configs/default.yaml
KVASIR    := $(BUILD_DIR)/tools/kvasir

.PHONY: all deps configure build test test-asan fuzz test-docker bench soak serve format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@test -f $(BUILD_DIR)/CMakeCache.txt || \
	  cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(TEST_JOBS) --timeout 600

# AddressSanitizer + UBSan build of the whole suite (benchmarks left out).
test-asan: deps
	@test -f $(ASAN_DIR)/CMakeCache.txt || \
	  cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Release -DKVASIR_SANITIZE=ON \
	    -DKVASIR_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1"
	cmake --build $(ASAN_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(TEST_JOBS) --timeout 1200

# libFuzzer targets (tests/fuzz/), clang-16 with ASan + UBSan, each run for
# FUZZ_SECONDS from its seed corpus: scripts/fuzz.sh. Fails on a crash,
# keeping the input in $(FUZZ_DIR)/crashes/<target>/.
fuzz: deps
	@test -f $(FUZZ_DIR)/CMakeCache.txt || \
	  CC=clang-16 CXX=clang++-16 cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Release \
	    -DKVASIR_FUZZ=ON -DKVASIR_BUILD_TESTS=OFF -DKVASIR_BUILD_BENCH=OFF \
	    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" -DCMAKE_C_FLAGS_RELEASE="-O1 -g1"
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target kvasir_fuzzers
	scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# Builds the Docker image and runs it for real (starts a private dockerd and
# makes a Debian base image with mmdebstrap when needed): scripts/test-docker.sh.
test-docker: build
	scripts/test-docker.sh

bench: build
	@for b in $(BUILD_DIR)/bench/*_bench; do echo "== $$b"; $$b || exit 1; done

# Not part of CI: the real server under mixed load (streaming and unary,
# cancels, 5 ms deadlines) with budget reloads every 3 s for SOAK_SECONDS;
# fails on a crash, an unexpected status, a tenant above its limit, a KV
# block left in use, or RSS growth >= 5% after warm-up (tests/soak/).
SOAK_SECONDS ?= 600
soak: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kvasir kvasir_soak
	$(BUILD_DIR)/tests/soak/kvasir_soak --seconds $(SOAK_SECONDS)

# The quick start: the gRPC server with $(CONFIG) (as shipped: the demo model
# models/stories260K.gguf, the default tenant, 0.0.0.0:50051, metrics on
# :9090). Then, in
# another shell: build/tools/kvasir client stream --prompt "Once upon a time"
serve: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kvasir
	$(KVASIR) serve --config $(CONFIG)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)

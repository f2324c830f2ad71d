// Compiles tests/testing/precompiled.h into the precompiled header that
// every test target reuses (tests/CMakeLists.txt).

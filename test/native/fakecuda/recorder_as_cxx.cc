// cuda/runtime/recorder.cu, compiled as C++ for the fake-CUDA test addon: cuda/backend.cu reports
// its ops to it. The fake device records no CUDA graphs (fake_runtime.cc's make_graph_cache runs
// every call eagerly), so no recorder is ever set here; the CUDA emulator tests the graphs.
#include "../../../cuda/runtime/recorder.cu"

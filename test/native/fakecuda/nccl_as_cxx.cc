// cuda/libs/nccl.cu compiled as C++ for the fake-CUDA test addon: the real NCCL glue (loading,
// buckets, stream ordering, the watchdog), run over fake_streams.cc and, when a test points
// PFGM_NCCL_LIBRARY at this addon, the fake NCCL of fake_nccl.cc.
#include "../../../cuda/libs/nccl.cu"

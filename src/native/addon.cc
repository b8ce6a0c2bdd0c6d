// Entry point of the addon. The same sources build `pfgm_cpu.node` and, with the CUDA backend
// linked in, `pfgm_cuda.node`; the TypeScript loader picks one (src/addon/load.ts).
#include <napi.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "binding/classifier_binding.h"
#include "binding/dist_binding.h"
#include "binding/exports_hook.h"
#include "binding/inception_binding.h"
#include "binding/linalg_binding.h"
#include "binding/napi_util.h"
#include "binding/network_binding.h"
#include "binding/physics_binding.h"
#include "binding/sample_run_binding.h"
#include "binding/sampler_binding.h"
#include "binding/tensor_handle.h"
#include "device.h"
#include "nn/graph_cache.h"

#ifndef PFGM_BUILD_FLAVOR
#define PFGM_BUILD_FLAVOR "cpu"
#endif

namespace pfgm::binding {
namespace {

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::sse41: return "sse41";
    default: return "other";
  }
}

// buildInfo() -> what this binary is and what it found: the loader's and `pfgm info`'s source.
Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("flavor", PFGM_BUILD_FLAVOR);
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("threads", omp_get_max_threads());
    const dnnl_version_t* v = dnnl_version();
    cpu.Set("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                          std::to_string(v->patch));
    cpu.Set("isa", isa_name(dnnl::get_effective_cpu_isa()));
    o.Set("cpu", cpu);
    const gpu::Info g = gpu::query();
    Napi::Object cuda = Napi::Object::New(env);
    cuda.Set("compiled", g.compiled);
    cuda.Set("available", g.available);
    cuda.Set("reason", g.reason);
    cuda.Set("deviceCount", g.device_count);
    if (g.available) {
      cuda.Set("name", g.name);
      cuda.Set("computeCapability",
               std::to_string(g.compute_major) + "." + std::to_string(g.compute_minor));
      cuda.Set("memoryBytes", static_cast<double>(g.memory_bytes));
    }
    cuda.Set("driverVersion", g.driver_version);
    cuda.Set("runtimeVersion", g.runtime_version);
    cuda.Set("cudnn", g.cudnn);
    cuda.Set("cublas", g.cublas);
    o.Set("cuda", cuda);
    return o;
  });
}

// selectCudaDevice(ordinal): the GPU this process uses (device.h; src/addon/devices.ts checks the
// name first).
Napi::Value SelectCudaDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const double v =
        info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0) || v > 1e6 || v != static_cast<double>(static_cast<int>(v)))
      fail(code::kDevice, "selectCudaDevice(ordinal): a non-negative integer");
    gpu::select_device(static_cast<int>(v));
    return env.Undefined();
  });
}

// graphStats() -> the process's CUDA graph counts (nn/graph_cache.h): zeros where nothing
// records graphs (the CPU, PFGM_CUDA_GRAPHS=0).
Napi::Value GraphStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const nn::GraphStats& s = nn::graph_stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("captures", static_cast<double>(s.captures.load()));
    o.Set("replays", static_cast<double>(s.replays.load()));
    o.Set("eager", static_cast<double>(s.eager.load()));
    o.Set("dropped", static_cast<double>(s.dropped.load()));
    o.Set("refusal", nn::graph_refusal());
    return o;
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  TensorHandle::Init(env, exports);
  NetworkHandle::Init(env, exports);
  InceptionHandle::Init(env, exports);
  exports.Set("createTensor", Napi::Function::New(env, CreateTensor));
  exports.Set("studentTNoise", Napi::Function::New(env, StudentTNoise));
  exports.Set("pfgmPerturb", Napi::Function::New(env, PfgmPerturb));
  exports.Set("trainingSigma", Napi::Function::New(env, TrainingSigma));
  exports.Set("philox", Napi::Function::New(env, Philox));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("selectCudaDevice", Napi::Function::New(env, SelectCudaDevice));
  exports.Set("graphStats", Napi::Function::New(env, GraphStats));
  InitSampler(env, exports);
  SampleRunHandle::Init(env, exports);   // sampling runs whose state stays on the device
  InitLinalg(env, exports);              // metrics: eigensolver, feature statistics, Fréchet, k-NN
  ClassifierHandle::Init(env, exports);  // metrics: the feature classifier
  InitDist(env, exports);                // data-parallel groups (Gloo, NCCL)
  add_registered_exports(env, exports);  // whatever this build linked in beside the engine
  return exports;
}

}  // namespace pfgm::binding

static Napi::Object InitPfgm(Napi::Env env, Napi::Object exports) {
  return pfgm::binding::Init(env, exports);
}

NODE_API_MODULE(pfgm, InitPfgm)

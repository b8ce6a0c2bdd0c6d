#include "dist_binding.h"

#include <cmath>
#include <vector>

#include "napi_util.h"

namespace pfgm::binding {

Napi::FunctionReference* DistributedHandle::constructor_ = nullptr;

namespace {

std::vector<double> doubles(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    fail(code::kArgument, "argument " + std::to_string(i) + " must be a Float64Array");
  Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  return std::vector<double>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Float64Array to_js(Napi::Env env, const std::vector<double>& v) {
  Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

int integer(const Napi::Object& o, const char* key, int lo, int hi) {
  const double v = number_field(o, key);
  if (!(v >= lo && v <= hi) || v != std::floor(v)) {
    fail(code::kArgument, std::string("'") + key + "' must be an integer in " + std::to_string(lo) +
                              ".." + std::to_string(hi));
  }
  return static_cast<int>(v);
}

Napi::Object availability(Napi::Env env, const dist::BackendAvailability& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", a.available);
  o.Set("detail", a.detail);
  return o;
}

// collectiveBackends() -> { gloo: { available, detail }, nccl: { available, detail } }
Napi::Value CollectiveBackends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("gloo", availability(env, dist::gloo_availability()));
    o.Set("nccl", availability(env, dist::nccl_availability()));
    return o;
  });
}

}  // namespace

// initDistributed({ rank, worldSize, masterAddr, masterPort, host?, timeoutSeconds, backend,
// cudaDevice? }) -> Promise<DistributedHandle>: the rendezvous and the backend's connection
// block, so they run off the JS thread.
Napi::Value InitDistributed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0);
    dist::ConnectOptions c;
    c.rank = integer(o, "rank", 0, 1 << 24);
    c.world_size = integer(o, "worldSize", 1, 1 << 24);
    c.master_addr = string_field(o, "masterAddr");
    c.master_port = integer(o, "masterPort", 1, 65535);
    if (has_field(o, "host")) c.host = string_field(o, "host");
    c.timeout_s = number_field(o, "timeoutSeconds");
    c.backend = string_field(o, "backend");
    if (has_field(o, "cudaDevice")) c.cuda_device = integer(o, "cudaDevice", 0, 1 << 16);
    auto group = std::make_shared<std::shared_ptr<dist::Collectives>>();
    return PromiseWorker::start(
        env, [c, group]() { *group = dist::connect(c); },
        [group](Napi::Env e) -> Napi::Value {
          Napi::Object handle = DistributedHandle::constructor_->New({});
          DistributedHandle::Unwrap(handle)->group_ = *group;
          (void)e;
          return handle;
        });
  });
}

void DistributedHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "DistributedHandle",
                                    {InstanceMethod("close", &DistributedHandle::Close),
                                     InstanceMethod("info", &DistributedHandle::Info),
                                     InstanceMethod("allReduce", &DistributedHandle::AllReduce),
                                     InstanceMethod("allGather", &DistributedHandle::AllGather),
                                     InstanceMethod("broadcast", &DistributedHandle::Broadcast),
                                     InstanceMethod("barrier", &DistributedHandle::Barrier)});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("DistributedHandle", ctor);
}

void InitDist(Napi::Env env, Napi::Object exports) {
  DistributedHandle::Init(env, exports);
  exports.Set("initDistributed", Napi::Function::New(env, InitDistributed));
  exports.Set("collectiveBackends", Napi::Function::New(env, CollectiveBackends));
}

DistributedHandle::DistributedHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<DistributedHandle>(info) {}

std::shared_ptr<dist::Collectives> DistributedHandle::group_of(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(constructor_->Value()))
    fail(code::kArgument, "not a distributed group: pass what initDistributed() resolved to");
  return Unwrap(v.As<Napi::Object>())->live("attach");
}

std::shared_ptr<dist::Collectives> DistributedHandle::live(const char* what) const {
  if (!group_) {
    fail(code::kDisposed,
         std::string(what) +
             ": the distributed group was closed; join a new one with initDistributed()");
  }
  return group_;
}

Napi::Value DistributedHandle::Close(const Napi::CallbackInfo& info) {
  group_.reset();
  return info.Env().Undefined();
}

Napi::Value DistributedHandle::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto g = live("info");
    Napi::Object o = Napi::Object::New(env);
    o.Set("rank", g->rank());
    o.Set("worldSize", g->size());
    o.Set("backend", g->backend());
    return o;
  });
}

// allReduce(Float64Array, 'sum' | 'mean') -> Promise<Float64Array>
Napi::Value DistributedHandle::AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto g = live("allReduce");
    auto v = std::make_shared<std::vector<double>>(doubles(info, 0));
    const std::string op = info.Length() > 1 && info[1].IsString()
                               ? info[1].As<Napi::String>().Utf8Value()
                               : std::string("sum");
    if (op != "sum" && op != "mean") fail(code::kArgument, "allReduce: op must be 'sum' or 'mean'");
    const dist::ReduceOp r = op == "mean" ? dist::ReduceOp::kMean : dist::ReduceOp::kSum;
    return PromiseWorker::start(
        env, [g, v, r]() { g->all_reduce_host(v->data(), static_cast<int64_t>(v->size()), r); },
        [v](Napi::Env e) -> Napi::Value { return to_js(e, *v); });
  });
}

// allGather(Float64Array of n) -> Promise<Float64Array of n * worldSize>, rank by rank.
Napi::Value DistributedHandle::AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto g = live("allGather");
    auto in = std::make_shared<std::vector<double>>(doubles(info, 0));
    auto out = std::make_shared<std::vector<double>>(in->size() * static_cast<size_t>(g->size()));
    return PromiseWorker::start(
        env,
        [g, in, out]() {
          g->all_gather_host(in->data(), static_cast<int64_t>(in->size()), out->data());
        },
        [out](Napi::Env e) -> Napi::Value { return to_js(e, *out); });
  });
}

// broadcast(Float64Array, root) -> Promise<Float64Array> (root's values on every rank).
Napi::Value DistributedHandle::Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto g = live("broadcast");
    auto v = std::make_shared<std::vector<double>>(doubles(info, 0));
    if (info.Length() < 2 || !info[1].IsNumber())
      fail(code::kArgument, "broadcast: the root rank is required");
    const int root = info[1].As<Napi::Number>().Int32Value();
    if (root < 0 || root >= g->size())
      fail(code::kArgument, "broadcast: root " + std::to_string(root) + " is not a rank");
    return PromiseWorker::start(
        env,
        [g, v, root]() { g->broadcast_host(v->data(), static_cast<int64_t>(v->size()), root); },
        [v](Napi::Env e) -> Napi::Value { return to_js(e, *v); });
  });
}

Napi::Value DistributedHandle::Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto g = live("barrier");
    return PromiseWorker::start(
        env, [g]() { g->barrier(); }, [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  });
}

}  // namespace pfgm::binding

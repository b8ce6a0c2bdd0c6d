// network.sampleRun({ batch, ema, guidance? | guided?, labels?, augment? }) (or new
// SampleRun(network, ...)); guided: [{ start, count, weight }] guides those rows only:
// a sampling run on the network's device (sample/run.h). Every call that touches the device runs on
// a worker under the network's mutex, so a run's calls and the network's other calls never overlap;
// src/sample (deviceArrays.ts) awaits each call before the next, through the network's call queue.
#include "sample_run_binding.h"

#include <cmath>
#include <string>
#include <vector>

#include "napi_util.h"
#include "network_binding.h"
#include "physics_binding.h"

namespace pfgm::binding {
namespace {

int id_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber())
    fail(code::kArgument, "sampling run: argument " + std::to_string(i) + " must be an array id");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v > 2147483647.0 || std::floor(v) != v)
    fail(code::kArgument, "sampling run: array ids are integers in [0, 2^31)");
  return static_cast<int>(v);
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber())
    fail(code::kArgument, std::string("sampling run: ") + what + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

std::vector<float> float_values(const Napi::Value& v, int64_t count, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(code::kDtype, std::string(what) + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (count >= 0 && static_cast<int64_t>(a.ElementLength()) != count)
    fail(code::kShape, std::string(what) + " has " + std::to_string(a.ElementLength()) +
                           " values, expected " + std::to_string(count));
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<double> coefs_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    fail(code::kArgument, "sampling run: the coefficients must be a Float64Array");
  Napi::Float64Array c = info[i].As<Napi::Float64Array>();
  return std::vector<double>(c.Data(), c.Data() + c.ElementLength());
}

std::vector<int> ids_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsArray())
    fail(code::kArgument, "sampling run: expected an array of array ids");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int> ids;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d > 2147483647.0 || std::floor(d) != d)
      fail(code::kArgument, "sampling run: array ids are integers in [0, 2^31)");
    ids.push_back(static_cast<int>(d));
  }
  return ids;
}

sample::Streams streams_arg(const Napi::CallbackInfo& info, size_t i, int64_t batch) {
  Napi::Object o = object_arg(info, i);
  const SeedArgs s = read_seeds(o, batch);
  sample::Streams out;
  out.per_sample = s.per_sample;
  out.streams.seed = s.seed;
  out.streams.sample_offset = s.offset;
  out.streams.step = s.step;
  return out;
}

// Runs `work` on the run under its network's mutex and resolves with `result`.
template <typename Work>
Napi::Value on_worker(
    Napi::Env env, std::shared_ptr<sample::Run> run, Work work,
    PromiseWorker::Result result = [](Napi::Env e) -> Napi::Value { return e.Undefined(); }) {
  return PromiseWorker::start(
      env,
      [run, work]() {
        std::lock_guard<std::mutex> lock(run->session().mutex());
        work(*run);
      },
      std::move(result));
}

}  // namespace

Napi::FunctionReference* SampleRunHandle::constructor_ = nullptr;

// network.sampleRun(config) -> a sampling run on that network's device (network_binding.h).
Napi::Value NetworkHandle::SampleRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    live("sampleRun");
    return SampleRunHandle::Create(info.This(), info.Length() > 0 ? info[0] : env.Undefined());
  });
}

Napi::Value SampleRunHandle::Create(Napi::Value network, Napi::Value config) {
  if (constructor_ == nullptr) fail(code::kInternal, "SampleRun is not initialised");
  return constructor_->New({network, config});
}

void SampleRunHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "SampleRun",
                                    {InstanceMethod("upload", &SampleRunHandle::Upload),
                                     InstanceMethod("download", &SampleRunHandle::Download),
                                     InstanceMethod("release", &SampleRunHandle::Release),
                                     InstanceMethod("prior", &SampleRunHandle::Prior),
                                     InstanceMethod("denoise", &SampleRunHandle::Denoise),
                                     InstanceMethod("drift", &SampleRunHandle::Drift),
                                     InstanceMethod("slopeUpdate", &SampleRunHandle::SlopeUpdate),
                                     InstanceMethod("combine", &SampleRunHandle::Combine),
                                     InstanceMethod("churn", &SampleRunHandle::Churn),
                                     InstanceMethod("check", &SampleRunHandle::Check),
                                     InstanceMethod("scaledSumsq", &SampleRunHandle::ScaledSumsq),
                                     InstanceMethod("transfers", &SampleRunHandle::Transfers),
                                     InstanceMethod("dispose", &SampleRunHandle::Dispose)});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("SampleRun", ctor);
}

SampleRunHandle::SampleRunHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<SampleRunHandle>(info) {
  Napi::Env env = info.Env();
  guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 1) fail(code::kArgument, "new SampleRun(network, options)");
    auto session = NetworkHandle::session_of(info[0], "SampleRun");
    Napi::Object o = object_arg(info, 1);
    sample::RunConfig c;
    const double batch = number_field(o, "batch");
    if (!(batch >= 1) || batch > 1e9 || std::floor(batch) != batch)
      fail(code::kArgument, "'batch' must be a positive integer");
    c.batch = static_cast<int64_t>(batch);
    c.ema = has_field(o, "ema") && o.Get("ema").ToBoolean().Value();
    if (has_field(o, "guidance") && has_field(o, "guided"))
      fail(code::kArgument, "give 'guidance' (every row) or 'guided' (row ranges), not both");
    if (has_field(o, "guidance")) {
      const double w = number_field(o, "guidance");
      if (!std::isfinite(w)) fail(code::kArgument, "'guidance' must be finite");
      c.guided.push_back({0, c.batch, w});
    }
    if (has_field(o, "guided")) {
      if (!o.Get("guided").IsArray())
        fail(code::kArgument, "'guided' must be an array of { start, count, weight }");
      Napi::Array a = o.Get("guided").As<Napi::Array>();
      for (uint32_t k = 0; k < a.Length(); ++k) {
        if (!a.Get(k).IsObject())
          fail(code::kArgument, "'guided' must be an array of { start, count, weight }");
        Napi::Object g = a.Get(k).As<Napi::Object>();
        const double start = number_field(g, "start"), count = number_field(g, "count");
        if (!(start >= 0) || !(count >= 1) || start + count > batch || std::floor(start) != start ||
            std::floor(count) != count)
          fail(code::kArgument, "'guided' rows must be integer ranges inside the batch");
        c.guided.push_back(
            {static_cast<int64_t>(start), static_cast<int64_t>(count), number_field(g, "weight")});
      }
    }
    const nn::Backbone& net = session->net().net();
    if (has_field(o, "labels"))
      c.labels = float_values(o.Get("labels"), c.batch * net.label_dim(), "labels");
    if (has_field(o, "augment"))
      c.augment = float_values(o.Get("augment"), c.batch * net.augment_dim(), "augment");
    // Touches no device memory: nothing to wait for.
    run_ = std::make_shared<sample::Run>(session, std::move(c));
    return env.Undefined();
  });
}

std::shared_ptr<sample::Run> SampleRunHandle::live(const char* what) const {
  if (!run_) fail(code::kDisposed, std::string(what) + ": the sampling run was disposed");
  return run_;
}

// upload(id, x) -> Promise<void>
Napi::Value SampleRunHandle::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("upload");
    const int id = id_arg(info, 0);
    auto x = std::make_shared<std::vector<float>>(
        float_values(info.Length() > 1 ? info[1] : env.Undefined(), run->numel(), "x"));
    return on_worker(env, run, [id, x](sample::Run& r) { r.upload(id, x->data()); });
  });
}

// download(id) -> Promise<Float32Array>
Napi::Value SampleRunHandle::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("download");
    const int id = id_arg(info, 0);
    auto out = std::make_shared<std::vector<float>>(static_cast<size_t>(run->numel()));
    return on_worker(
        env, run, [id, out](sample::Run& r) { r.download(id, out->data()); },
        [out](Napi::Env e) -> Napi::Value {
          Napi::Float32Array a = Napi::Float32Array::New(e, out->size());
          std::copy(out->begin(), out->end(), a.Data());
          return a;
        });
  });
}

// release(id) -> Promise<void>
Napi::Value SampleRunHandle::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("release");
    const int id = id_arg(info, 0);
    return on_worker(env, run, [id](sample::Run& r) { r.release(id); });
  });
}

// prior(id, D, sigmaMax, { seeds, offset, clipMin?, clipMax?, firstRow?, rows? }) -> Promise<void>:
// rows [firstRow, firstRow + rows) (default: the whole batch) from streams 0 .. rows - 1.
Napi::Value SampleRunHandle::Prior(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("prior");
    const int id = id_arg(info, 0);
    const double D = number_arg(info, 1, "D");
    const double sigma = number_arg(info, 2, "sigmaMax");
    if (!(sigma > 0) || std::isinf(sigma)) fail(code::kArgument, "sigmaMax must be finite and > 0");
    const int64_t batch = run->numel() / run->session().net().sample_numel();
    Napi::Object o = object_arg(info, 3);
    const double first = has_field(o, "firstRow") ? number_field(o, "firstRow") : 0.0;
    if (!(first >= 0) || first >= static_cast<double>(batch) || std::floor(first) != first)
      fail(code::kArgument, "prior: 'firstRow' must be a row of the batch");
    const double rows =
        has_field(o, "rows") ? number_field(o, "rows") : static_cast<double>(batch) - first;
    if (!(rows >= 1) || first + rows > static_cast<double>(batch) || std::floor(rows) != rows)
      fail(code::kArgument, "prior: 'rows' must be a positive count inside the batch");
    auto s = std::make_shared<sample::Streams>(streams_arg(info, 3, static_cast<int64_t>(rows)));
    const double lo = has_field(o, "clipMin") ? number_field(o, "clipMin") : 0.0;
    const double hi = has_field(o, "clipMax") ? number_field(o, "clipMax") : INFINITY;
    if (!(lo >= 0) || !(hi > 0) || lo > hi)
      fail(code::kArgument, "the radius clip needs 0 <= min <= max");
    const auto f = static_cast<int64_t>(first), n = static_cast<int64_t>(rows);
    return on_worker(env, run, [=](sample::Run& r) { r.prior(id, D, sigma, *s, lo, hi, f, n); });
  });
}

// denoise(in, sigma, out) -> Promise<void>
Napi::Value SampleRunHandle::Denoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("denoise");
    const int in = id_arg(info, 0), out = id_arg(info, 2);
    const double sigma = number_arg(info, 1, "sigma");
    return on_worker(env, run, [=](sample::Run& r) { r.denoise(in, sigma, out); });
  });
}

// drift(in, z, gamma, out) -> Promise<void>: PFGM's z-ODE drift (objective 'pfgm').
Napi::Value SampleRunHandle::Drift(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("drift");
    const int in = id_arg(info, 0), out = id_arg(info, 3);
    const double z = number_arg(info, 1, "z"), gamma = number_arg(info, 2, "gamma");
    if (!(z > 0) || std::isinf(z)) fail(code::kArgument, "z must be positive and finite");
    if (!(gamma >= 0) || std::isinf(gamma)) fail(code::kArgument, "gamma must be finite and >= 0");
    return on_worker(env, run, [=](sample::Run& r) { r.drift(in, z, gamma, out); });
  });
}

// slopeUpdate(x, den, sigma, coefs: Float64Array, slopes: number[], dOut, xOut) -> Promise<void>:
// iPNDM's step in one kernel (sample/run.h).
Napi::Value SampleRunHandle::SlopeUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("slopeUpdate");
    const int x = id_arg(info, 0), den = id_arg(info, 1), d_out = id_arg(info, 5),
              x_out = id_arg(info, 6);
    const double sigma = number_arg(info, 2, "sigma");
    if (!(sigma > 0) || std::isinf(sigma))
      fail(code::kArgument, "sigma must be positive and finite");
    auto coefs = std::make_shared<std::vector<double>>(coefs_arg(info, 3));
    auto slopes = std::make_shared<std::vector<int>>(ids_arg(info, 4));
    return on_worker(env, run, [=](sample::Run& r) {
      r.slope_update(x, den, sigma, *coefs, *slopes, d_out, x_out);
    });
  });
}

// combine(out, coefs: Float64Array, ids: number[]) -> Promise<void>
Napi::Value SampleRunHandle::Combine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("combine");
    const int out = id_arg(info, 0);
    auto coefs = std::make_shared<std::vector<double>>(coefs_arg(info, 1));
    auto ids = std::make_shared<std::vector<int>>(ids_arg(info, 2));
    return on_worker(env, run, [=](sample::Run& r) { r.combine(out, *coefs, *ids); });
  });
}

// churn(in, out, scale, { seeds, offset, step }) -> Promise<void>
Napi::Value SampleRunHandle::Churn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("churn");
    const int in = id_arg(info, 0), out = id_arg(info, 1);
    const double scale = number_arg(info, 2, "scale");
    auto s = std::make_shared<sample::Streams>(
        streams_arg(info, 3, run->numel() / run->session().net().sample_numel()));
    return on_worker(env, run, [=](sample::Run& r) { r.churn(in, out, scale, *s); });
  });
}

// check(id) -> Promise<{ index, value }>: the first non-finite element (index -1: none).
Napi::Value SampleRunHandle::Check(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("check");
    const int id = id_arg(info, 0);
    auto index = std::make_shared<int64_t>(-1);
    auto value = std::make_shared<float>(0.0f);
    return on_worker(
        env, run, [=](sample::Run& r) { *index = r.first_nonfinite(id, value.get()); },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("index", static_cast<double>(*index));
          o.Set("value", static_cast<double>(*value));
          return o;
        });
  });
}

// scaledSumsq(e, a, b, rtol, atol) -> Promise<number>
Napi::Value SampleRunHandle::ScaledSumsq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("scaledSumsq");
    const int e = id_arg(info, 0), a = id_arg(info, 1), b = id_arg(info, 2);
    const double rtol = number_arg(info, 3, "rtol"), atol = number_arg(info, 4, "atol");
    auto sum = std::make_shared<double>(0);
    return on_worker(
        env, run, [=](sample::Run& r) { *sum = r.scaled_sumsq(e, a, b, rtol, atol); },
        [sum](Napi::Env en) -> Napi::Value { return Napi::Number::New(en, *sum); });
  });
}

// transfers() -> { uploads, downloads }: batch-sized copies between host and device so far.
Napi::Value SampleRunHandle::Transfers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto run = live("transfers");
    Napi::Object o = Napi::Object::New(env);
    o.Set("uploads", static_cast<double>(run->uploads()));
    o.Set("downloads", static_cast<double>(run->downloads()));
    return o;
  });
}

Napi::Value SampleRunHandle::Dispose(const Napi::CallbackInfo& info) {
  run_.reset();  // in-flight work holds its own reference and finishes safely
  return info.Env().Undefined();
}

}  // namespace pfgm::binding

// JS entry points of the physics kernels (docs/method.md §2.1-2.3, §3). Each allocates its outputs
// on the input's device, then runs the CPU or CUDA kernel off the JS thread.
#include <cmath>
#include <vector>

#include "../physics/physics.h"
#include "napi_util.h"
#include "physics_binding.h"
#include "tensor_handle.h"

namespace pfgm::binding {

SeedArgs read_seeds(const Napi::Object& o, int64_t count) {
  SeedArgs s;
  Napi::Value v = o.Get("seeds");
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
    fail(code::kArgument, "'seeds' must be a BigUint64Array");
  auto arr = v.As<Napi::TypedArrayOf<uint64_t>>();
  if (arr.ElementLength() == 1) {
    s.seed = arr[0];
  } else if (static_cast<int64_t>(arr.ElementLength()) == count) {
    s.per_sample.assign(arr.Data(), arr.Data() + arr.ElementLength());
  } else {
    fail(code::kShape, "give one seed or one seed per sample (" + std::to_string(count) + ")");
  }
  double offset = has_field(o, "offset") ? number_field(o, "offset") : 0.0;
  double step = has_field(o, "step") ? number_field(o, "step") : 0.0;
  if (!(offset >= 0) || offset > 9007199254740991.0 || std::floor(offset) != offset)
    fail(code::kArgument, "'sampleOffset' must be a non-negative integer");
  if (!(step >= 0) || step > 4294967295.0 || std::floor(step) != step)
    fail(code::kArgument, "'step' must be an integer in [0, 2^32)");
  s.offset = static_cast<uint64_t>(offset);
  s.step = static_cast<uint32_t>(step);
  return s;
}

namespace {

// Keeps the per-sample parameter arrays alive on the device while the kernel runs.
struct StreamBuffers {
  std::shared_ptr<ParamBuffer> seeds;
  SampleStreams streams{};
  StreamBuffers(const SeedArgs& s, Device device) {
    if (!s.per_sample.empty())
      seeds = std::make_shared<ParamBuffer>(s.per_sample.data(), s.per_sample.size() * 8, device);
    streams.seeds = seeds ? static_cast<const uint64_t*>(seeds->data()) : nullptr;
    streams.seed = s.seed;
    streams.sample_offset = s.offset;
    streams.step = s.step;
  }
};

void require_float(const Tensor& t, const char* what) {
  if (t.dtype != DType::f32 && t.dtype != DType::f64)
    fail(code::kDtype, std::string(what) + " must be f32 or f64, got " + dtype_name(t.dtype));
}

void require_batch(const std::vector<int64_t>& shape, const char* what) {
  if (shape.size() < 2 || shape[0] < 1)
    fail(code::kShape, std::string(what) +
                           " must have shape [count, ...sample] with count >= 1 and "
                           "at least one sample dimension, got " +
                           shape_string(shape));
}

int64_t sample_size(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i)
    if (__builtin_mul_overflow(n, shape[i], &n))
      fail(code::kMemory, "a batch of shape " + shape_string(shape) + " does not fit in memory");
  if (n < 1)
    fail(code::kShape, "each sample needs at least one element, got " + shape_string(shape));
  return n;
}

}  // namespace

// studentTNoise({ y?, shape?, dtype?, device?, D, sigma, seeds, offset?, step?, purpose,
//                 clipMin?, clipMax? }) -> Promise<Tensor>
Napi::Value StudentTNoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0);
    std::shared_ptr<Tensor> y;
    std::vector<int64_t> shape;
    DType dtype;
    Device device;
    if (has_field(o, "y")) {
      y = TensorHandle::FromValue(o.Get("y"), "y");
      require_float(*y, "y");
      shape = y->shape;
      dtype = y->dtype;
      device = y->device;
    } else {
      Napi::Value s = o.Get("shape");
      if (!s.IsArray()) fail(code::kArgument, "give either 'y' (a Tensor) or 'shape' (an array)");
      Napi::Array a = s.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value d = a.Get(i);
        const double v = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1.0;
        if (!(v >= 0) || v > 9.0e15 || std::floor(v) != v)
          fail(code::kShape, "shape entries must be non-negative integers");
        shape.push_back(static_cast<int64_t>(v));
      }
      dtype = parse_dtype(string_field(o, "dtype"));
      device = parse_device(string_field(o, "device"));
      if (dtype != DType::f32 && dtype != DType::f64)
        fail(code::kDtype, "prior draws are f32 or f64");
    }
    require_batch(shape, y ? "y" : "shape");
    NoiseSpec spec{};
    spec.count = shape[0];
    spec.n = sample_size(shape);
    spec.D = number_field(o, "D");
    if (!(spec.D > 0)) fail(code::kArgument, "D must be > 0 (or Infinity)");

    std::shared_ptr<ParamBuffer> sigma_buffer;
    Napi::Value sigma = o.Get("sigma");
    if (sigma.IsNumber()) {
      spec.sigma_scalar = sigma.As<Napi::Number>().DoubleValue();
      if (!(spec.sigma_scalar >= 0) || std::isinf(spec.sigma_scalar))
        fail(code::kArgument, "sigma must be a finite number >= 0");
    } else if (sigma.IsTypedArray() &&
               sigma.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
      auto arr = sigma.As<Napi::Float64Array>();
      if (static_cast<int64_t>(arr.ElementLength()) != spec.count)
        fail(code::kShape, "sigma needs one value per sample (" + std::to_string(spec.count) + ")");
      for (size_t i = 0; i < arr.ElementLength(); ++i)
        if (!(arr[i] >= 0) || std::isinf(arr[i]))
          fail(code::kArgument, "sigma[" + std::to_string(i) + "] must be a finite number >= 0");
      sigma_buffer = std::make_shared<ParamBuffer>(arr.Data(), arr.ElementLength() * 8, device);
      spec.sigma = static_cast<const double*>(sigma_buffer->data());
    } else {
      fail(code::kArgument, "sigma must be a number or a Float64Array");
    }

    const std::string purpose = string_field(o, "purpose");
    if (purpose == "perturb") {
      spec.purpose_gauss = kPurposeNoiseGauss;
      spec.purpose_chi2 = kPurposeNoiseChi2;
    } else if (purpose == "prior") {
      spec.purpose_gauss = kPurposePriorGauss;
      spec.purpose_chi2 = kPurposePriorChi2;
    } else {
      fail(code::kArgument, "purpose must be 'perturb' or 'prior'");
    }
    spec.clip_min = has_field(o, "clipMin") ? number_field(o, "clipMin") : 0.0;
    spec.clip_max = has_field(o, "clipMax") ? number_field(o, "clipMax") : INFINITY;
    if (!(spec.clip_min >= 0) || !(spec.clip_max > 0) || spec.clip_min > spec.clip_max)
      fail(code::kArgument, "the radius clip needs 0 <= min <= max");

    auto streams = std::make_shared<StreamBuffers>(read_seeds(o, spec.count), device);
    spec.streams = streams->streams;
    auto out = make_tensor(dtype, device, shape);
    return PromiseWorker::start(
        env,
        [y, out, spec, streams, sigma_buffer]() {
          const bool gpu = out->device == Device::cuda;
          if (out->dtype == DType::f32) {
            const float* yp = y ? y->data<float>() : nullptr;
            gpu ? cuda::student_t_noise_f32(yp, out->data<float>(), spec)
                : cpu::student_t_noise_f32(yp, out->data<float>(), spec);
          } else {
            const double* yp = y ? y->data<double>() : nullptr;
            gpu ? cuda::student_t_noise_f64(yp, out->data<double>(), spec)
                : cpu::student_t_noise_f64(yp, out->data<double>(), spec);
          }
        },
        [out](Napi::Env env) -> Napi::Value { return TensorHandle::Make(env, out); });
  });
}

// pfgmPerturb({ y, M, tau, s, restrictM, seeds, offset?, step? }) -> Promise<[x, z]>
Napi::Value PfgmPerturb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0);
    auto y = TensorHandle::FromValue(o.Get("y"), "y");
    require_float(*y, "y");
    require_batch(y->shape, "y");
    PfgmSpec spec{};
    spec.count = y->shape[0];
    spec.n = sample_size(y->shape);
    spec.M = number_field(o, "M");
    spec.tau = number_field(o, "tau");
    spec.s = number_field(o, "s");
    if (!(spec.M >= 0) || !(spec.tau > 0) || !(spec.s > 0) || std::isinf(spec.M) ||
        std::isinf(spec.tau) || std::isinf(spec.s))
      fail(code::kArgument, "PFGM needs finite M >= 0, tau > 0 and s > 0");
    spec.restrict_M = o.Get("restrictM").ToBoolean().Value();
    auto streams = std::make_shared<StreamBuffers>(read_seeds(o, spec.count), y->device);
    spec.streams = streams->streams;
    auto x = make_tensor(y->dtype, y->device, y->shape);
    auto z = make_tensor(y->dtype, y->device, {spec.count});
    return PromiseWorker::start(
        env,
        [y, x, z, spec, streams]() {
          const bool gpu = y->device == Device::cuda;
          if (y->dtype == DType::f32) {
            gpu ? cuda::pfgm_perturb_f32(y->data<float>(), x->data<float>(), z->data<float>(), spec)
                : cpu::pfgm_perturb_f32(y->data<float>(), x->data<float>(), z->data<float>(), spec);
          } else {
            gpu ? cuda::pfgm_perturb_f64(y->data<double>(), x->data<double>(), z->data<double>(),
                                         spec)
                : cpu::pfgm_perturb_f64(y->data<double>(), x->data<double>(), z->data<double>(),
                                        spec);
          }
        },
        [x, z](Napi::Env env) -> Napi::Value {
          Napi::Array pair = Napi::Array::New(env, 2);
          pair.Set(0u, TensorHandle::Make(env, x));
          pair.Set(1u, TensorHandle::Make(env, z));
          return pair;
        });
  });
}

// trainingSigma({ count, pMean, pStd, dtype, device, seeds, offset?, step? }) -> Promise<Tensor>
Napi::Value TrainingSigma(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0);
    const double count_d = number_field(o, "count");
    if (!(count_d >= 1) || std::floor(count_d) != count_d || count_d > 1e12)
      fail(code::kArgument, "count must be a positive integer");
    const int64_t count = static_cast<int64_t>(count_d);
    const double p_mean = number_field(o, "pMean"), p_std = number_field(o, "pStd");
    if (!std::isfinite(p_mean) || !std::isfinite(p_std) || p_std < 0)
      fail(code::kArgument, "pMean must be finite and pStd finite and >= 0");
    const DType dtype = parse_dtype(string_field(o, "dtype"));
    const Device device = parse_device(string_field(o, "device"));
    if (dtype != DType::f32 && dtype != DType::f64) fail(code::kDtype, "sigma is f32 or f64");
    auto streams = std::make_shared<StreamBuffers>(read_seeds(o, count), device);
    auto out = make_tensor(dtype, device, {count});
    return PromiseWorker::start(
        env,
        [out, count, p_mean, p_std, streams]() {
          const bool gpu = out->device == Device::cuda;
          if (out->dtype == DType::f32) {
            gpu ? cuda::training_sigma_f32(out->data<float>(), count, p_mean, p_std,
                                           streams->streams)
                : cpu::training_sigma_f32(out->data<float>(), count, p_mean, p_std,
                                          streams->streams);
          } else {
            gpu ? cuda::training_sigma_f64(out->data<double>(), count, p_mean, p_std,
                                           streams->streams)
                : cpu::training_sigma_f64(out->data<double>(), count, p_mean, p_std,
                                          streams->streams);
          }
        },
        [out](Napi::Env env) -> Napi::Value { return TensorHandle::Make(env, out); });
  });
}

// philox(counter: Uint32Array(4), key: Uint32Array(2)) -> Uint32Array(4). For known-answer tests.
Napi::Value Philox(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray())
      fail(code::kArgument, "philox(counter: Uint32Array(4), key: Uint32Array(2))");
    auto c = info[0].As<Napi::Uint32Array>();
    auto k = info[1].As<Napi::Uint32Array>();
    if (c.ElementLength() != 4 || k.ElementLength() != 2)
      fail(code::kShape, "philox needs 4 counter words and 2 key words");
    Philox4 r = philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1]);
    auto out = Napi::Uint32Array::New(env, 4);
    for (int i = 0; i < 4; ++i) out[i] = r.v[i];
    return out;
  });
}

}  // namespace pfgm::binding

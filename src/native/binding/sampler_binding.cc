// N-API side of the sampler kernels (sample/sampler.h) and the ideal denoiser
// (sample/ideal_denoiser.h).
//
// The per-step kernels work in place on the caller's Float32Arrays, without copies: a solver step
// touches every element once, and copying its inputs would double that traffic. The synchronous
// form serves small batches, where a worker thread costs more than the work; the asynchronous form
// keeps a reference to every array until the Promise settles, and the caller (src/sample/update.ts)
// must not touch them meanwhile. The ideal denoiser copies its inputs, as the network does, since
// its cost dwarfs the copies.
#include "sampler_binding.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../sample/ideal_denoiser.h"
#include "../sample/sampler.h"
#include "../sample/sampler_math.h"
#include "napi_util.h"

namespace pfgm::binding {
namespace {

Napi::Float32Array float32_value(Napi::Value v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(code::kDtype, what + " must be a Float32Array");
  return v.As<Napi::Float32Array>();
}

int64_t count_value(const Napi::Object& o, const char* key, int64_t lo, int64_t hi) {
  const double v = number_field(o, key);
  if (!(v >= static_cast<double>(lo)) || v > static_cast<double>(hi) || std::floor(v) != v)
    fail(code::kArgument, std::string("'") + key + "' must be an integer in [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int64_t>(v);
}

// Float32Arrays the kernel reads and writes in place, kept alive (and their memory in place) by
// references that are released on the JS thread when the work is done.
struct Pinned {
  std::vector<Napi::ObjectReference> refs;
  void hold(const Napi::Object& o) { refs.push_back(Napi::Persistent(o)); }
};

bool overlap(const float* a, const float* b, int64_t n) { return a != b && a < b + n && b < a + n; }

// linearCombination(out, coefs: Float64Array, terms: Float32Array[]): the arguments of both forms.
struct Combination {
  int64_t n = 0;
  std::vector<double> coefs;
  std::vector<const float*> inputs;
  float* out = nullptr;
};

Combination read_combination(const Napi::CallbackInfo& info, Pinned* pin) {
  if (info.Length() < 3)
    fail(code::kArgument,
         "linearCombination(out: Float32Array, coefs: Float64Array, terms: Float32Array[])");
  Combination c;
  Napi::Float32Array out = float32_value(info[0], "out");
  c.n = static_cast<int64_t>(out.ElementLength());
  c.out = out.Data();
  if (!info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    fail(code::kDtype, "coefs must be a Float64Array");
  Napi::Float64Array coefs = info[1].As<Napi::Float64Array>();
  if (!info[2].IsArray()) fail(code::kArgument, "terms must be an array of Float32Arrays");
  Napi::Array terms = info[2].As<Napi::Array>();
  const uint32_t t = terms.Length();
  if (t < 1 || t > static_cast<uint32_t>(kMaxCombineTerms))
    fail(code::kArgument, "a linear combination takes 1 to " + std::to_string(kMaxCombineTerms) +
                              " terms, got " + std::to_string(t));
  if (coefs.ElementLength() != t)
    fail(code::kShape, "give one coefficient per term: " + std::to_string(coefs.ElementLength()) +
                           " coefficients for " + std::to_string(t) + " terms");
  for (uint32_t k = 0; k < t; ++k) {
    const double v = coefs[k];
    if (!std::isfinite(v))
      fail(code::kArgument, "coefficient " + std::to_string(k) + " is not finite");
    c.coefs.push_back(v);
    Napi::Float32Array a = float32_value(terms.Get(k), "terms[" + std::to_string(k) + "]");
    if (static_cast<int64_t>(a.ElementLength()) != c.n)
      fail(code::kShape, "terms[" + std::to_string(k) + "] has " +
                             std::to_string(a.ElementLength()) + " values, out has " +
                             std::to_string(c.n));
    if (overlap(a.Data(), c.out, c.n))
      fail(code::kArgument, "terms[" + std::to_string(k) +
                                "] partially overlaps out: use the same array or separate ones");
    c.inputs.push_back(a.Data());
    if (pin != nullptr) pin->hold(a);
  }
  if (pin != nullptr) pin->hold(out);
  return c;
}

// linearCombination(out, coefs, terms): out = sum_k coefs[k] * terms[k], on the JS thread.
Napi::Value LinearCombination(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Combination c = read_combination(info, nullptr);
    cpu::linear_combination_f32(c.n, static_cast<int>(c.inputs.size()), c.coefs.data(),
                                c.inputs.data(), c.out);
    return env.Undefined();
  });
}

// linearCombinationAsync(out, coefs, terms) -> Promise<void>: the same on a worker thread.
Napi::Value LinearCombinationAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto pin = std::make_shared<Pinned>();
    auto c = std::make_shared<Combination>(read_combination(info, pin.get()));
    return PromiseWorker::start(
        env,
        [c, pin]() {
          cpu::linear_combination_f32(c->n, static_cast<int>(c->inputs.size()), c->coefs.data(),
                                      c->inputs.data(), c->out);
        },
        [pin](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  });
}

// Per-sample streams: one seed (stream offset + i) or one seed per sample (stream 0 of seed i),
// as physics_binding reads them, plus the step that addresses the solver step or probe.
struct Streams {
  std::vector<uint64_t> seeds;
  SampleStreams streams{};
};

std::shared_ptr<Streams> read_streams(const Napi::Object& o, int64_t count) {
  auto s = std::make_shared<Streams>();
  Napi::Value v = o.Get("seeds");
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
    fail(code::kArgument, "'seeds' must be a BigUint64Array");
  auto arr = v.As<Napi::TypedArrayOf<uint64_t>>();
  if (arr.ElementLength() == 1) {
    s->streams.seed = arr[0];
  } else if (static_cast<int64_t>(arr.ElementLength()) == count) {
    s->seeds.assign(arr.Data(), arr.Data() + arr.ElementLength());
  } else {
    fail(code::kShape, "give one seed or one seed per sample (" + std::to_string(count) + ")");
  }
  const double offset = has_field(o, "offset") ? number_field(o, "offset") : 0.0;
  const double step = has_field(o, "step") ? number_field(o, "step") : 0.0;
  if (!(offset >= 0) || offset > 9007199254740991.0 || std::floor(offset) != offset)
    fail(code::kArgument, "'offset' must be a non-negative integer");
  if (!(step >= 0) || step > 4294967295.0 || std::floor(step) != step)
    fail(code::kArgument, "'step' must be an integer in [0, 2^32)");
  s->streams.seeds = s->seeds.empty() ? nullptr : s->seeds.data();
  s->streams.sample_offset = static_cast<uint64_t>(offset);
  s->streams.step = static_cast<uint32_t>(step);
  return s;
}

// A [count, n] Float32Array field: returns it and sets n from its length.
Napi::Float32Array batch_field(const Napi::Object& o, const char* key, int64_t count, int64_t* n) {
  Napi::Float32Array a = float32_value(o.Get(key), std::string("'") + key + "'");
  const int64_t len = static_cast<int64_t>(a.ElementLength());
  if (len < count || len % count != 0)
    fail(code::kShape, std::string("'") + key + "' has " + std::to_string(len) +
                           " values, not a whole number of samples for count " +
                           std::to_string(count));
  *n = len / count;
  return a;
}

// churnNoise({ x, out, count, scale, seeds, offset?, step }) -> Promise<void>:
// out = x + scale * eps, eps ~ N(0, I) per sample (docs/method.md §2.3, EDM's churn).
Napi::Value ChurnNoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0);
    const int64_t count = count_value(o, "count", 1, int64_t{1} << 40);
    int64_t n = 0, n_out = 0;
    Napi::Float32Array x = batch_field(o, "x", count, &n);
    Napi::Float32Array out = batch_field(o, "out", count, &n_out);
    if (n_out != n) fail(code::kShape, "'out' and 'x' must have the same length");
    if (overlap(x.Data(), out.Data(), count * n))
      fail(code::kArgument, "'out' partially overlaps 'x': use the same array or separate ones");
    const double scale = number_field(o, "scale");
    if (!(scale >= 0) || !std::isfinite(scale))
      fail(code::kArgument, "'scale' must be a finite number >= 0");
    auto streams = read_streams(o, count);
    auto pin = std::make_shared<Pinned>();
    pin->hold(x);
    pin->hold(out);
    const float* xp = x.Data();
    float* op = out.Data();
    return PromiseWorker::start(
        env, [=]() { cpu::churn_noise_f32(xp, op, count, n, scale, streams->streams); },
        [pin](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  });
}

// rademacher({ out, count, seeds, offset?, step }): fills out with +-1 probes, per sample.
Napi::Value Rademacher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object o = object_arg(info, 0);
    const int64_t count = count_value(o, "count", 1, int64_t{1} << 40);
    int64_t n = 0;
    Napi::Float32Array out = batch_field(o, "out", count, &n);
    auto streams = read_streams(o, count);
    cpu::rademacher_f32(out.Data(), count, n, streams->streams);
    return env.Undefined();
  });
}

// new IdealDenoiser({ y: Float32Array, n, D, classes?: Int32Array, labelDim? }).
class IdealDenoiserHandle : public Napi::ObjectWrap<IdealDenoiserHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "IdealDenoiser",
                                      {InstanceMethod("dispose", &IdealDenoiserHandle::Dispose),
                                       InstanceMethod("info", &IdealDenoiserHandle::Info),
                                       InstanceMethod("denoise", &IdealDenoiserHandle::Denoise),
                                       InstanceMethod("inputVjp", &IdealDenoiserHandle::InputVjp)});
    exports.Set("IdealDenoiser", ctor);
  }

  explicit IdealDenoiserHandle(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<IdealDenoiserHandle>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&]() -> Napi::Value {
      Napi::Object o = object_arg(info, 0);
      Napi::Float32Array y = float32_value(o.Get("y"), "'y'");
      const int64_t n = count_value(o, "n", 1, int64_t{1} << 40);
      const double D = number_field(o, "D");
      std::vector<int32_t> classes;
      int64_t label_dim = 0;
      if (has_field(o, "classes")) {
        Napi::Value c = o.Get("classes");
        if (!c.IsTypedArray() || c.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
          fail(code::kDtype, "'classes' must be an Int32Array");
        Napi::Int32Array a = c.As<Napi::Int32Array>();
        classes.assign(a.Data(), a.Data() + a.ElementLength());
        label_dim = count_value(o, "labelDim", 1, int64_t{1} << 30);
      }
      model_ = std::make_shared<sample::IdealDenoiser>(
          std::vector<float>(y.Data(), y.Data() + y.ElementLength()), n, D, classes, label_dim);
      return env.Undefined();
    });
  }

 private:
  std::shared_ptr<sample::IdealDenoiser> live(const char* what) const {
    if (!model_) fail(code::kDisposed, std::string(what) + ": the ideal denoiser was disposed");
    return model_;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // in-flight work holds its own reference
    return info.Env().Undefined();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto m = live("info");
      Napi::Object o = Napi::Object::New(env);
      o.Set("count", static_cast<double>(m->count()));
      o.Set("n", static_cast<double>(m->n()));
      o.Set("D", m->D());
      o.Set("labelDim", static_cast<double>(m->label_dim()));
      return o;
    });
  }

  // The inputs of one call, copied: x [queries, n], sigma [queries], classes, and v for the VJP.
  struct Call {
    int64_t queries = 0;
    std::vector<float> x, v, out, vjp;
    std::vector<double> sigma;
    std::vector<int32_t> classes;
    const int32_t* cls() const { return classes.empty() ? nullptr : classes.data(); }
  };

  std::shared_ptr<Call> read_call(const Napi::Object& o, const sample::IdealDenoiser& m,
                                  bool with_v) {
    auto c = std::make_shared<Call>();
    Napi::Float32Array x = float32_value(o.Get("x"), "'x'");
    const int64_t len = static_cast<int64_t>(x.ElementLength());
    if (len < m.n() || len % m.n() != 0)
      fail(code::kShape, "'x' has " + std::to_string(len) +
                             " values, not a whole batch of samples of " + std::to_string(m.n()));
    c->queries = len / m.n();
    c->x.assign(x.Data(), x.Data() + len);
    if (!o.Get("sigma").IsTypedArray() ||
        o.Get("sigma").As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      fail(code::kDtype, "'sigma' must be a Float64Array");
    Napi::Float64Array s = o.Get("sigma").As<Napi::Float64Array>();
    if (static_cast<int64_t>(s.ElementLength()) != c->queries)
      fail(code::kShape, "'sigma' needs one value per sample (" + std::to_string(c->queries) + ")");
    c->sigma.assign(s.Data(), s.Data() + s.ElementLength());
    for (size_t i = 0; i < c->sigma.size(); ++i)
      if (!(c->sigma[i] > 0) || !std::isfinite(c->sigma[i]))
        fail(code::kArgument, "sigma[" + std::to_string(i) + "] must be finite and > 0");
    if (has_field(o, "classes")) {
      Napi::Value cv = o.Get("classes");
      if (!cv.IsTypedArray() || cv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        fail(code::kDtype, "'classes' must be an Int32Array");
      Napi::Int32Array a = cv.As<Napi::Int32Array>();
      if (static_cast<int64_t>(a.ElementLength()) != c->queries)
        fail(code::kShape,
             "'classes' needs one value per sample (" + std::to_string(c->queries) + ")");
      c->classes.assign(a.Data(), a.Data() + a.ElementLength());
    }
    if (with_v) {
      Napi::Float32Array v = float32_value(o.Get("v"), "'v'");
      if (static_cast<int64_t>(v.ElementLength()) != len)
        fail(code::kShape, "'v' must have the length of 'x' (" + std::to_string(len) + ")");
      c->v.assign(v.Data(), v.Data() + len);
      c->vjp.resize(static_cast<size_t>(len));
    }
    c->out.resize(static_cast<size_t>(len));
    return c;
  }

  static Napi::Float32Array to_js(Napi::Env env, const std::vector<float>& v) {
    Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
    std::memcpy(a.Data(), v.data(), v.size() * sizeof(float));
    return a;
  }

  // denoise({ x, sigma: Float64Array, classes?: Int32Array }) -> Promise<Float32Array>
  Napi::Value Denoise(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto m = live("denoise");
      auto c = read_call(object_arg(info, 0), *m, false);
      return PromiseWorker::start(
          env,
          [m, c]() {
            m->denoise(c->queries, c->x.data(), c->sigma.data(), c->cls(), c->out.data());
          },
          [c](Napi::Env e) -> Napi::Value { return to_js(e, c->out); });
    });
  }

  // inputVjp({ x, sigma, v, classes? }) -> Promise<{ denoised, vjp }>
  Napi::Value InputVjp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto m = live("inputVjp");
      auto c = read_call(object_arg(info, 0), *m, true);
      return PromiseWorker::start(
          env,
          [m, c]() {
            m->input_vjp(c->queries, c->x.data(), c->sigma.data(), c->cls(), c->v.data(),
                         c->vjp.data(), c->out.data());
          },
          [c](Napi::Env e) -> Napi::Value {
            Napi::Object r = Napi::Object::New(e);
            r.Set("denoised", to_js(e, c->out));
            r.Set("vjp", to_js(e, c->vjp));
            return r;
          });
    });
  }

  std::shared_ptr<sample::IdealDenoiser> model_;
};

}  // namespace

void InitSampler(Napi::Env env, Napi::Object exports) {
  exports.Set("linearCombination", Napi::Function::New(env, LinearCombination));
  exports.Set("linearCombinationAsync", Napi::Function::New(env, LinearCombinationAsync));
  exports.Set("churnNoise", Napi::Function::New(env, ChurnNoise));
  exports.Set("rademacher", Napi::Function::New(env, Rademacher));
  IdealDenoiserHandle::Init(env, exports);
}

}  // namespace pfgm::binding

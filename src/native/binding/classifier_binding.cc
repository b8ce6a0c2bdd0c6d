// new Classifier(config) from JS: the network (nn/classifier.h), its flat parameter and gradient
// buffers and Adam's moments. forward / lossAndGrad / trainStep run on worker threads; inputs are
// copied first so JS may reuse its arrays at once, and a mutex serialises calls (the network's
// saved activations are shared state).
#include "classifier_binding.h"

#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "../nn/classifier.h"
#include "../ops/cross_entropy.h"
#include "../optim/optim.h"
#include "napi_util.h"

namespace pfgm::binding {

struct ClassifierSession {
  std::unique_ptr<nn::Classifier> net;
  std::vector<float> params, grads, m, v;
  std::vector<float> logits, prob, dlogits;
  int64_t adam_t = 0;
  std::mutex mu;

  nn::Context context(int64_t batch, bool training) {
    nn::Context ctx;
    ctx.params = params.data();
    ctx.grads = training ? grads.data() : nullptr;
    ctx.batch = batch;
    ctx.training = training;
    return ctx;
  }
  // Forward, loss and backward: the gradients land in `grads`.
  cpu::CrossEntropyResult loss_and_grad(int64_t batch, const float* x, const int32_t* labels) {
    const int64_t k = net->config().classes;
    if (grads.size() != params.size()) grads.assign(params.size(), 0.0f);
    nn::Context ctx = context(batch, true);
    logits.resize(static_cast<size_t>(batch * k));
    prob.resize(logits.size());
    dlogits.resize(logits.size());
    net->forward(ctx, x, logits.data(), nullptr);
    const cpu::CrossEntropyResult r =
        cpu::cross_entropy_forward(batch, k, logits.data(), labels, prob.data());
    cpu::cross_entropy_backward(batch, k, prob.data(), labels, dlogits.data());
    net->backward(ctx, dlogits.data());
    return r;
  }
};

namespace {

int64_t int_field(const Napi::Object& o, const char* key, int64_t fallback, int64_t lo,
                  int64_t hi) {
  if (!has_field(o, key)) return fallback;
  const double v = number_field(o, key);
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != std::floor(v)) {
    fail(code::kArgument, std::string("'") + key + "' must be an integer in [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(v);
}

double num_field(const Napi::Object& o, const char* key, double fallback) {
  return has_field(o, key) ? number_field(o, key) : fallback;
}

std::vector<float>& buffer_named(ClassifierSession& s, const std::string& which) {
  if (which == "params") return s.params;
  if (which == "grads") {
    if (s.grads.size() != s.params.size()) s.grads.assign(s.params.size(), 0.0f);
    return s.grads;
  }
  if (which == "adam_m" || which == "adam_v") {
    if (s.m.size() != s.params.size()) {
      s.m.assign(s.params.size(), 0.0f);
      s.v.assign(s.params.size(), 0.0f);
    }
    return which == "adam_m" ? s.m : s.v;
  }
  fail(code::kArgument, "unknown buffer '" + which + "' (params, grads, adam_m, adam_v)");
}

Napi::Float32Array to_js(Napi::Env env, const float* p, size_t n) {
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  std::copy(p, p + n, a.Data());
  return a;
}

// A batch copied out of JS: images [batch, C, H, W] and, when `want_labels`, class indices.
struct Batch {
  int64_t batch = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;
};

Batch read_batch(ClassifierSession& s, const Napi::Object& o, bool want_labels) {
  Batch b;
  b.batch = int_field(o, "batch", 0, 1, 1 << 20);
  if (b.batch < 1) fail(code::kArgument, "'batch' must be a positive integer");
  const int64_t count = b.batch * s.net->sample_numel();
  Napi::Value xv = o.Get("x");
  if (!xv.IsTypedArray() || xv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(code::kDtype, "'x' must be a Float32Array");
  Napi::Float32Array x = xv.As<Napi::Float32Array>();
  if (static_cast<int64_t>(x.ElementLength()) != count) {
    fail(code::kShape, "'x' has " + std::to_string(x.ElementLength()) + " values, expected " +
                           std::to_string(count) + " (batch x channels x resolution^2)");
  }
  b.x.assign(x.Data(), x.Data() + count);
  if (!want_labels) return b;
  Napi::Value lv = o.Get("labels");
  if (!lv.IsTypedArray() || lv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    fail(code::kDtype, "'labels' must be an Int32Array of class indices");
  Napi::Int32Array l = lv.As<Napi::Int32Array>();
  if (static_cast<int64_t>(l.ElementLength()) != b.batch)
    fail(code::kShape, "'labels' has " + std::to_string(l.ElementLength()) + " values, expected " +
                           std::to_string(b.batch));
  const int64_t k = s.net->config().classes;
  for (size_t i = 0; i < l.ElementLength(); ++i) {
    if (l[i] < 0 || l[i] >= k)
      fail(code::kArgument, "label " + std::to_string(l[i]) + " at " + std::to_string(i) +
                                " is not in [0, " + std::to_string(k) + ")");
  }
  b.labels.assign(l.Data(), l.Data() + l.ElementLength());
  return b;
}

Napi::Object loss_result(Napi::Env env, const cpu::CrossEntropyResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("correct", static_cast<double>(r.correct));
  return o;
}

}  // namespace

void ClassifierHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "Classifier",
                  {InstanceMethod("dispose", &ClassifierHandle::Dispose),
                   InstanceMethod("paramInfo", &ClassifierHandle::ParamInfo),
                   InstanceMethod("getBuffer", &ClassifierHandle::GetBuffer),
                   InstanceMethod("setBuffer", &ClassifierHandle::SetBuffer),
                   InstanceMethod("adamSteps", &ClassifierHandle::AdamSteps),
                   InstanceMethod("setAdamSteps", &ClassifierHandle::SetAdamSteps),
                   InstanceMethod("forward", &ClassifierHandle::Forward),
                   InstanceMethod("lossAndGrad", &ClassifierHandle::LossAndGrad),
                   InstanceMethod("trainStep", &ClassifierHandle::TrainStep)});
  exports.Set("Classifier", ctor);
}

ClassifierHandle::ClassifierHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ClassifierHandle>(info) {
  Napi::Env env = info.Env();
  guarded(env, [&]() -> Napi::Value {
    Napi::Object c = object_arg(info, 0);
    nn::ClassifierConfig cfg;
    cfg.in_channels = int_field(c, "in_channels", cfg.in_channels, 1, 64);
    cfg.resolution = int_field(c, "resolution", cfg.resolution, 1, 1024);
    cfg.blocks = int_field(c, "blocks", cfg.blocks, 0, 16);
    cfg.feature_dim = int_field(c, "feature_dim", cfg.feature_dim, 1, 65536);
    cfg.classes = int_field(c, "classes", cfg.classes, 2, 65536);
    if (has_field(c, "channels")) {
      Napi::Value v = c.Get("channels");
      if (!v.IsArray()) fail(code::kArgument, "'channels' must be an array of integers");
      Napi::Array a = v.As<Napi::Array>();
      cfg.channels.clear();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value e = a.Get(i);
        const double ch = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
        if (!(ch >= 1 && ch <= 4096) || ch != std::floor(ch))
          fail(code::kArgument, "'channels' must hold integers in [1, 4096]");
        cfg.channels.push_back(static_cast<int64_t>(ch));
      }
    }
    const double seed = num_field(c, "init_seed", 0);
    if (!(seed >= 0) || seed != std::floor(seed))
      fail(code::kArgument, "'init_seed' must be a non-negative integer");
    auto s = std::make_shared<ClassifierSession>();
    s->net = std::make_unique<nn::Classifier>(cfg);
    s->params.assign(static_cast<size_t>(s->net->params().param_count()), 0.0f);
    s->net->params().initialize(static_cast<uint64_t>(seed), s->params.data(), nullptr);
    session_ = s;
    return env.Undefined();
  });
}

std::shared_ptr<ClassifierSession> ClassifierHandle::live(const char* what) const {
  if (!session_) fail(code::kDisposed, std::string(what) + ": the classifier was disposed");
  return session_;
}

Napi::Value ClassifierHandle::Dispose(const Napi::CallbackInfo& info) {
  session_.reset();  // in-flight work holds its own reference and finishes safely
  return info.Env().Undefined();
}

Napi::Value ClassifierHandle::ParamInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("paramInfo");
    const auto& list = s->net->params().params();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("name", list[i].name);
      e.Set("shape", shape_array(env, list[i].shape));
      e.Set("offset", static_cast<double>(list[i].offset));
      e.Set("numel", static_cast<double>(list[i].numel));
      a.Set(static_cast<uint32_t>(i), e);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("params", a);
    o.Set("paramCount", static_cast<double>(s->net->params().param_count()));
    return o;
  });
}

Napi::Value ClassifierHandle::GetBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("getBuffer");
    if (info.Length() < 1 || !info[0].IsString()) fail(code::kArgument, "getBuffer(name)");
    std::lock_guard<std::mutex> lock(s->mu);
    const std::vector<float>& b = buffer_named(*s, info[0].As<Napi::String>().Utf8Value());
    return to_js(env, b.data(), b.size());
  });
}

Napi::Value ClassifierHandle::SetBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("setBuffer");
    if (info.Length() < 2 || !info[0].IsString()) fail(code::kArgument, "setBuffer(name, data)");
    if (!info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail(code::kDtype, "setBuffer: data must be a Float32Array");
    std::lock_guard<std::mutex> lock(s->mu);
    std::vector<float>& dst = buffer_named(*s, info[0].As<Napi::String>().Utf8Value());
    Napi::Float32Array a = info[1].As<Napi::Float32Array>();
    if (a.ElementLength() != dst.size()) {
      fail(code::kShape, "setBuffer: got " + std::to_string(a.ElementLength()) +
                             " values, expected " + std::to_string(dst.size()));
    }
    std::copy(a.Data(), a.Data() + a.ElementLength(), dst.begin());
    return env.Undefined();
  });
}

Napi::Value ClassifierHandle::AdamSteps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("adamSteps");
    std::lock_guard<std::mutex> lock(s->mu);
    return Napi::Number::New(env, static_cast<double>(s->adam_t));
  });
}

Napi::Value ClassifierHandle::SetAdamSteps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("setAdamSteps");
    if (info.Length() < 1 || !info[0].IsNumber()) fail(code::kArgument, "setAdamSteps(count)");
    const double t = info[0].As<Napi::Number>().DoubleValue();
    if (!(t >= 0) || t != std::floor(t) || t > 9007199254740991.0)
      fail(code::kArgument, "setAdamSteps: count must be a non-negative integer");
    std::lock_guard<std::mutex> lock(s->mu);
    s->adam_t = static_cast<int64_t>(t);
    return env.Undefined();
  });
}

// forward({ batch, x, features? }) -> Promise<{ logits, features? }>
Napi::Value ClassifierHandle::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("forward");
    Napi::Object o = object_arg(info, 0);
    auto b = std::make_shared<Batch>(read_batch(*s, o, false));
    const bool want = has_field(o, "features") && o.Get("features").ToBoolean().Value();
    const auto& cfg = s->net->config();
    auto logits = std::make_shared<std::vector<float>>(static_cast<size_t>(b->batch * cfg.classes));
    const size_t feat_count = want ? static_cast<size_t>(b->batch * cfg.feature_dim) : 0;
    auto feats = std::make_shared<std::vector<float>>(feat_count);
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mu);
          nn::Context ctx = s->context(b->batch, false);
          s->net->forward(ctx, b->x.data(), logits->data(), want ? feats->data() : nullptr);
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("logits", to_js(e, logits->data(), logits->size()));
          if (want) r.Set("features", to_js(e, feats->data(), feats->size()));
          return r;
        });
  });
}

// lossAndGrad({ batch, x, labels }) -> Promise<{ loss, correct }>; read gradients with getBuffer.
Napi::Value ClassifierHandle::LossAndGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("lossAndGrad");
    auto b = std::make_shared<Batch>(read_batch(*s, object_arg(info, 0), true));
    auto out = std::make_shared<cpu::CrossEntropyResult>();
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mu);
          *out = s->loss_and_grad(b->batch, b->x.data(), b->labels.data());
        },
        [=](Napi::Env e) -> Napi::Value { return loss_result(e, *out); });
  });
}

// trainStep({ batch, x, labels, lr, beta1?, beta2?, eps? }) -> Promise<{ loss, correct }>:
// forward, cross-entropy, backward, then one torch.optim.Adam step (optim/optim.h).
Napi::Value ClassifierHandle::TrainStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("trainStep");
    Napi::Object o = object_arg(info, 0);
    auto b = std::make_shared<Batch>(read_batch(*s, o, true));
    const double lr = number_field(o, "lr");
    const double beta1 = num_field(o, "beta1", 0.9), beta2 = num_field(o, "beta2", 0.999);
    const double eps = num_field(o, "eps", 1e-8);
    if (!(lr >= 0 && std::isfinite(lr))) fail(code::kArgument, "'lr' must be a finite number >= 0");
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0))
      fail(code::kArgument, "Adam needs 0 <= beta1, beta2 < 1 and eps > 0");
    auto out = std::make_shared<cpu::CrossEntropyResult>();
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mu);
          *out = s->loss_and_grad(b->batch, b->x.data(), b->labels.data());
          if (s->m.size() != s->params.size()) {
            s->m.assign(s->params.size(), 0.0f);
            s->v.assign(s->params.size(), 0.0f);
          }
          const int64_t count = static_cast<int64_t>(s->params.size());
          const optim::GradStats g = optim::grad_stats(count, s->grads.data());
          if (!g.finite) {
            fail(code::kArgument,
                 "the classifier's gradient is not finite (diverged?): lower the learning rate");
          }
          ++s->adam_t;
          optim::adam_step(count, s->params.data(), s->grads.data(), s->m.data(), s->v.data(), lr,
                           beta1, beta2, eps, s->adam_t, 1.0f);
        },
        [=](Napi::Env e) -> Napi::Value { return loss_result(e, *out); });
  });
}

}  // namespace pfgm::binding

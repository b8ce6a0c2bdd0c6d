// new Network(config) from JS: builds the backbone named by config.kind, wraps it in EDM's
// preconditioning and owns the training state. Heavy calls run on worker threads; inputs are
// copied first so JS may reuse its arrays at once, and the session's mutex serialises calls.
#include "network_binding.h"

#include <cmath>

#include "../nn/dhariwal_unet.h"
#include "../nn/mlp.h"
#include "../nn/profile.h"
#include "../nn/song_unet.h"
#include "dist_binding.h"
#include "napi_util.h"

namespace pfgm::binding {
namespace {

int64_t int_field(const Napi::Object& o, const char* key, int64_t fallback) {
  if (!has_field(o, key)) return fallback;
  const double v = number_field(o, key);
  if (!(v >= 0) || v != std::floor(v) || v > 1e9) {
    fail(code::kArgument, std::string("'") + key + "' must be a non-negative integer");
  }
  return static_cast<int64_t>(v);
}

double num_field(const Napi::Object& o, const char* key, double fallback) {
  return has_field(o, key) ? number_field(o, key) : fallback;
}

template <typename T>
std::vector<T> list_field(const Napi::Object& o, const char* key, std::vector<T> fallback) {
  if (!has_field(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) fail(code::kArgument, std::string("'") + key + "' must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<T> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) fail(code::kArgument, std::string("'") + key + "' must hold numbers");
    out.push_back(static_cast<T>(e.As<Napi::Number>().DoubleValue()));
  }
  return out;
}

// The resolved training options, options: {...} of trainStep (src/physics/trainOptions.ts resolves
// them and maps them in toNativeTrainOptions). Every field is required: the defaults live only
// there.
struct TrainOptions {
  double D;
  uint64_t seed;
  double p_mean, p_std;
  int64_t micro_batch;
  bool stf;
  train::OptimConfig opt;
};

bool bool_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) fail(code::kArgument, std::string("'") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

TrainOptions read_train_options(const Napi::Object& args) {
  Napi::Value v = args.Get("options");
  if (!v.IsObject()) fail(code::kArgument, "'options' (the resolved training options) is required");
  Napi::Object o = v.As<Napi::Object>();
  TrainOptions t{};
  t.D = number_field(o, "D");
  const double seed = number_field(o, "seed");
  if (!(seed >= 0) || seed != std::floor(seed) || seed > 9007199254740991.0)
    fail(code::kArgument, "'seed' must be a non-negative integer");
  t.seed = static_cast<uint64_t>(seed);
  t.p_mean = number_field(o, "pMean");
  t.p_std = number_field(o, "pStd");
  if (!has_field(o, "microBatch")) fail(code::kArgument, "'microBatch' must be a number");
  t.micro_batch = int_field(o, "microBatch", 0);
  t.stf = bool_field(o, "stf");
  t.opt.lr = number_field(o, "lr");
  t.opt.beta1 = number_field(o, "beta1");
  t.opt.beta2 = number_field(o, "beta2");
  t.opt.eps = number_field(o, "eps");
  t.opt.lr_rampup_kimg = number_field(o, "lrRampupKimg");
  t.opt.grad_clip = number_field(o, "gradClip");
  t.opt.ema_halflife_kimg = number_field(o, "emaHalflifeKimg");
  t.opt.ema_rampup_ratio = number_field(o, "emaRampupRatio");
  return t;
}

// The fields EDM's two U-Nets share (SongUNet and DhariwalUNet take the same first arguments).
template <class UNetConfig>
void read_unet_fields(const Napi::Object& c, int64_t extra_out, UNetConfig& u) {
  u.img_resolution = int_field(c, "img_resolution", u.img_resolution);
  u.in_channels = int_field(c, "in_channels", u.in_channels);
  u.out_channels = int_field(c, "out_channels", u.out_channels) + extra_out;
  u.label_dim = int_field(c, "label_dim", 0);
  u.augment_dim = int_field(c, "augment_dim", 0);
  u.model_channels = int_field(c, "model_channels", u.model_channels);
  u.channel_mult = list_field<int64_t>(c, "channel_mult", u.channel_mult);
  u.channel_mult_emb = int_field(c, "channel_mult_emb", u.channel_mult_emb);
  u.num_blocks = int_field(c, "num_blocks", u.num_blocks);
  u.attn_resolutions = list_field<int64_t>(c, "attn_resolutions", u.attn_resolutions);
  u.dropout = static_cast<float>(num_field(c, "dropout", u.dropout));
  u.label_dropout = static_cast<float>(num_field(c, "label_dropout", 0));
}

// extra_out: output channels (features) beyond the input's; 1 for PFGM's z component.
std::unique_ptr<nn::Backbone> make_backbone(const Napi::Object& c, int64_t extra_out) {
  const std::string kind = string_field(c, "kind");
  if (kind == "songunet") {
    nn::SongUNetConfig s;
    read_unet_fields(c, extra_out, s);
    if (has_field(c, "embedding_type")) s.embedding_type = string_field(c, "embedding_type");
    s.channel_mult_noise = int_field(c, "channel_mult_noise", s.channel_mult_noise);
    if (has_field(c, "encoder_type")) s.encoder_type = string_field(c, "encoder_type");
    if (has_field(c, "decoder_type")) s.decoder_type = string_field(c, "decoder_type");
    s.resample_filter = list_field<float>(c, "resample_filter", s.resample_filter);
    return std::make_unique<nn::SongUNet>(s);
  }
  if (kind == "dhariwalunet") {
    nn::DhariwalUNetConfig d;
    read_unet_fields(c, extra_out, d);
    return std::make_unique<nn::DhariwalUNet>(d);
  }
  if (kind == "mlp") {
    nn::MlpConfig m;
    m.features = int_field(c, "in_features", m.features);
    m.out_features = m.features + extra_out;
    m.hidden = int_field(c, "hidden", m.hidden);
    m.num_blocks = int_field(c, "num_blocks", m.num_blocks);
    m.emb_channels = int_field(c, "emb_channels", m.emb_channels);
    m.noise_channels = int_field(c, "noise_channels", m.noise_channels);
    m.label_dim = int_field(c, "label_dim", 0);
    m.dropout = static_cast<float>(num_field(c, "dropout", 0));
    m.label_dropout = static_cast<float>(num_field(c, "label_dropout", 0));
    return std::make_unique<nn::Mlp>(m);
  }
  fail(code::kArgument,
       "unknown network kind '" + kind + "' (use 'songunet', 'dhariwalunet' or 'mlp')");
}

// Copies a Float32Array field of exactly `count` values (or returns empty when optional+absent).
std::vector<float> floats(const Napi::Object& o, const char* key, int64_t count, bool optional) {
  if (!has_field(o, key)) {
    if (optional) return {};
    fail(code::kArgument, std::string("'") + key + "' is required");
  }
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(code::kDtype, std::string("'") + key + "' must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (static_cast<int64_t>(a.ElementLength()) != count) {
    fail(code::kShape, std::string("'") + key + "' has " + std::to_string(a.ElementLength()) +
                           " values, expected " + std::to_string(count));
  }
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Float32Array to_js(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// A batch copied out of JS (so JS may reuse its arrays at once): the samples, the per-sample
// sigma and the explicit noise when given, and the labels.
struct BatchInputs {
  int64_t batch = 0;
  std::vector<float> data, noise, sigma, labels, augment;
  static const float* or_null(const std::vector<float>& v) {
    return v.empty() ? nullptr : v.data();
  }
  nn::Labels view() const { return nn::Labels{or_null(labels), or_null(augment)}; }
};

// Which of sigma and noise a call takes: denoise needs sigma, lossAndGrad both, and trainStep
// either both (an explicit perturbation) or neither (the native draws); PFGM's calls neither.
enum class Perturbation { kSigma, kRequired, kOptional, kNone };

BatchInputs read_batch(train::Session& s, const Napi::Object& o, const char* data_key,
                       Perturbation perturbation) {
  BatchInputs b;
  b.batch = int_field(o, "batch", 0);
  if (b.batch < 1) fail(code::kArgument, "'batch' must be a positive integer");
  const int64_t cnt = b.batch * s.net().sample_numel();
  b.data = floats(o, data_key, cnt, false);
  const bool optional = perturbation == Perturbation::kOptional;
  if (perturbation == Perturbation::kNone) {
    if (has_field(o, "sigma") || has_field(o, "noise"))
      fail(code::kArgument,
           "a PFGM step draws its own perturbation: leave 'noise' and 'sigma' out");
  } else {
    b.sigma = floats(o, "sigma", b.batch, optional);
  }
  if (perturbation == Perturbation::kRequired || perturbation == Perturbation::kOptional)
    b.noise = floats(o, "noise", cnt, optional);
  if (optional && b.noise.empty() != b.sigma.empty())
    fail(code::kArgument, "give both 'noise' and 'sigma' (an explicit perturbation) or neither");
  nn::Backbone& net = s.net().net();
  if (has_field(o, "labels")) {
    if (net.label_dim() == 0) fail(code::kArgument, "this network takes no class labels");
    b.labels = floats(o, "labels", b.batch * net.label_dim(), false);
  }
  if (has_field(o, "augment")) {
    if (net.augment_dim() == 0) fail(code::kArgument, "this network takes no augment labels");
    b.augment = floats(o, "augment", b.batch * net.augment_dim(), false);
  }
  return b;
}

}  // namespace

Napi::FunctionReference* NetworkHandle::constructor_ = nullptr;

std::shared_ptr<train::Session> NetworkHandle::session_of(const Napi::Value& v, const char* what) {
  if (constructor_ == nullptr || !v.IsObject() ||
      !v.As<Napi::Object>().InstanceOf(constructor_->Value()))
    fail(code::kArgument, std::string(what) + ": not a native network handle");
  return Unwrap(v.As<Napi::Object>())->live(what);
}

void NetworkHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "Network",
                  {InstanceMethod("dispose", &NetworkHandle::Dispose),
                   InstanceMethod("paramInfo", &NetworkHandle::ParamInfo),
                   InstanceMethod("getBuffer", &NetworkHandle::GetBuffer),
                   InstanceMethod("setBuffer", &NetworkHandle::SetBuffer),
                   InstanceMethod("denoise", &NetworkHandle::Denoise),
                   InstanceMethod("field", &NetworkHandle::Field),
                   InstanceMethod("lossAndGrad", &NetworkHandle::LossAndGrad),
                   InstanceMethod("inputVjp", &NetworkHandle::InputVjp),
                   InstanceMethod("trainStep", &NetworkHandle::TrainStep),
                   InstanceMethod("counters", &NetworkHandle::Counters),
                   InstanceMethod("setCounters", &NetworkHandle::SetCounters),
                   InstanceMethod("attachDistributed", &NetworkHandle::AttachDistributed),
                   InstanceMethod("syncFromRoot", &NetworkHandle::SyncFromRoot),
                   InstanceMethod("sampleRun", &NetworkHandle::SampleRun),
                   StaticMethod("profile", &NetworkHandle::Profile)});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("Network", ctor);
}

NetworkHandle::NetworkHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NetworkHandle>(info) {
  Napi::Env env = info.Env();
  guarded(env, [&]() -> Napi::Value {
    Napi::Object c = object_arg(info, 0);
    nn::PrecondConfig pc;
    pc.sigma_data = num_field(c, "sigma_data", 0.5);
    pc.d_aware_c_in = has_field(c, "d_aware_c_in") && c.Get("d_aware_c_in").ToBoolean().Value();
    pc.adaptive_scale =
        has_field(c, "adaptive_scale") && c.Get("adaptive_scale").ToBoolean().Value();
    pc.D = num_field(c, "D", INFINITY);
    const std::string objective =
        has_field(c, "objective") ? string_field(c, "objective") : "pfgmpp";
    if (objective != "pfgmpp" && objective != "pfgm")
      fail(code::kArgument, "unknown objective '" + objective + "' (use 'pfgmpp' or 'pfgm')");
    pc.pfgm_field = objective == "pfgm";
    const double seed = num_field(c, "init_seed", 0);
    // device 'cpu' (default) or 'cuda'; precision (CUDA only) 'fp32' (default), 'tf32', 'bf16'.
    const std::string device = has_field(c, "device") ? string_field(c, "device") : "cpu";
    const nn::Precision precision =
        nn::parse_precision(has_field(c, "precision") ? string_field(c, "precision") : "fp32");
    nn::Backend* backend = nullptr;
    if (device == "cpu") {
      if (precision != nn::Precision::kFp32)
        fail(code::kArgument, "precision '" + std::string(nn::precision_name(precision)) +
                                  "' needs device 'cuda': the CPU engine computes in fp32");
      backend = &nn::cpu_backend();
    } else if (device == "cuda") {
      backend = &nn::cuda_backend(precision);
    } else if (const nn::BackendFactory factory = nn::find_backend(device)) {
      backend = &factory(precision);  // a device this build registered (nn::register_backend)
    } else {
      fail(code::kArgument, "unknown device '" + device + "' (use 'cpu' or 'cuda')");
    }
    device_ = device;
    auto net = std::make_unique<nn::Denoiser>(make_backbone(c, pc.pfgm_field ? 1 : 0), pc);
    session_ =
        std::make_shared<train::Session>(std::move(net), static_cast<uint64_t>(seed), *backend);
    return env.Undefined();
  });
}

std::shared_ptr<train::Session> NetworkHandle::live(const char* what) const {
  if (!session_) fail(code::kDisposed, std::string(what) + ": the network was disposed");
  return session_;
}

Napi::Value NetworkHandle::Dispose(const Napi::CallbackInfo& info) {
  session_.reset();  // in-flight work holds its own reference and finishes safely
  return info.Env().Undefined();
}

Napi::Value NetworkHandle::ParamInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("paramInfo");
    const nn::ParamSet& ps = s->net().params();
    auto list = [&](const std::vector<nn::ParamInfo>& v) {
      Napi::Array a = Napi::Array::New(env, v.size());
      for (size_t i = 0; i < v.size(); ++i) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("name", v[i].name);
        e.Set("shape", shape_array(env, v[i].shape));
        e.Set("offset", static_cast<double>(v[i].offset));
        e.Set("numel", static_cast<double>(v[i].numel));
        a.Set(static_cast<uint32_t>(i), e);
      }
      return a;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("params", list(ps.params()));
    o.Set("buffers", list(ps.buffers()));
    o.Set("paramCount", static_cast<double>(ps.param_count()));
    o.Set("bufferCount", static_cast<double>(ps.buffer_count()));
    const op::Nhwc in = s->net().net().input_shape(1);
    o.Set("sampleShape", shape_array(env, {in.c, in.h, in.w}));
    o.Set("labelDim", static_cast<double>(s->net().net().label_dim()));
    o.Set("augmentDim", static_cast<double>(s->net().net().augment_dim()));
    o.Set("device", device_);
    return o;
  });
}

Napi::Value NetworkHandle::GetBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("getBuffer");
    if (info.Length() < 1 || !info[0].IsString()) fail(code::kArgument, "getBuffer(name)");
    std::lock_guard<std::mutex> lock(s->mutex());
    return to_js(env, s->read(info[0].As<Napi::String>().Utf8Value()));
  });
}

Napi::Value NetworkHandle::SetBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("setBuffer");
    if (info.Length() < 2 || !info[0].IsString()) fail(code::kArgument, "setBuffer(name, data)");
    std::lock_guard<std::mutex> lock(s->mutex());
    const std::string which = info[0].As<Napi::String>().Utf8Value();
    Napi::Object holder = Napi::Object::New(env);
    holder.Set("data", info[1]);
    s->write(which, floats(holder, "data", s->size(which), false));
    return env.Undefined();
  });
}

Napi::Value NetworkHandle::Denoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("denoise");
    Napi::Object o = object_arg(info, 0);
    auto b = std::make_shared<BatchInputs>(read_batch(*s, o, "x", Perturbation::kSigma));
    const int64_t cnt = b->batch * s->net().sample_numel();
    const bool ema = has_field(o, "ema") && o.Get("ema").ToBoolean().Value();
    const bool want_raw = has_field(o, "raw") && o.Get("raw").ToBoolean().Value();
    auto out = std::make_shared<std::vector<float>>(static_cast<size_t>(cnt));
    auto raw = std::make_shared<std::vector<float>>(want_raw ? static_cast<size_t>(cnt) : 0);
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mutex());
          s->denoise(b->batch, b->data.data(), b->sigma.data(), b->view(), ema, out->data(),
                     want_raw ? raw->data() : nullptr);
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("out", to_js(e, *out));
          if (want_raw) r.Set("raw", to_js(e, *raw));
          return r;
        });
  });
}

// field({batch, x, z, labels?, augment?, ema?}) -> Promise<Float32Array [batch, N + 1]> (PFGM);
// with a `target` [batch, N + 1] instead: Promise<loss>, gradients in the grads buffer.
Napi::Value NetworkHandle::Field(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("field");
    Napi::Object o = object_arg(info, 0);
    auto b = std::make_shared<BatchInputs>(read_batch(*s, o, "x", Perturbation::kNone));
    auto z = std::make_shared<std::vector<float>>(floats(o, "z", b->batch, false));
    const bool ema = has_field(o, "ema") && o.Get("ema").ToBoolean().Value();
    const int64_t per = s->net().sample_numel();
    if (has_field(o, "target")) {
      // With a target: the loss and every gradient (read them with getBuffer('grads')).
      auto target =
          std::make_shared<std::vector<float>>(floats(o, "target", b->batch * (per + 1), false));
      auto loss = std::make_shared<double>(0);
      return PromiseWorker::start(
          env,
          [=]() {
            std::lock_guard<std::mutex> lock(s->mutex());
            *loss = s->field_loss_and_grad(b->batch, b->data.data(), z->data(), b->view(),
                                           target->data());
          },
          [=](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *loss); });
    }
    auto out = std::make_shared<std::vector<float>>(static_cast<size_t>(b->batch * (per + 1)));
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mutex());
          s->field(b->batch, b->data.data(), z->data(), b->view(), ema, out->data());
        },
        [=](Napi::Env e) -> Napi::Value { return to_js(e, *out); });
  });
}

Napi::Value NetworkHandle::LossAndGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("lossAndGrad");
    Napi::Object o = object_arg(info, 0);
    auto b = std::make_shared<BatchInputs>(read_batch(*s, o, "y", Perturbation::kRequired));
    auto loss = std::make_shared<double>(0);
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mutex());
          train::StepInput in{};
          in.batch = b->batch;
          in.y = b->data.data();
          in.labels = b->view();
          in.noise = b->noise.data();
          in.sigma = b->sigma.data();
          *loss = s->loss_and_grad(in);
        },
        [=](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *loss); });
  });
}

// inputVjp({ batch, x, sigma, v, labels?, augment?, ema? }) -> Promise<{ denoised, vjp }>:
// v^T dD(x, sigma)/dx for the likelihood's trace estimate (nn::Denoiser::input_vjp).
Napi::Value NetworkHandle::InputVjp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("inputVjp");
    Napi::Object o = object_arg(info, 0);
    auto b = std::make_shared<BatchInputs>(read_batch(*s, o, "x", Perturbation::kSigma));
    const int64_t cnt = b->batch * s->net().sample_numel();
    auto v = std::make_shared<std::vector<float>>(floats(o, "v", cnt, false));
    const bool ema = has_field(o, "ema") && o.Get("ema").ToBoolean().Value();
    auto out = std::make_shared<std::vector<float>>(static_cast<size_t>(cnt));
    auto vjp = std::make_shared<std::vector<float>>(static_cast<size_t>(cnt));
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mutex());
          s->input_vjp(b->batch, b->data.data(), b->sigma.data(), b->view(), ema, v->data(),
                       vjp->data(), out->data());
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("denoised", to_js(e, *out));
          r.Set("vjp", to_js(e, *vjp));
          return r;
        });
  });
}

// trainStep({ batch, y, labels?, augment?, noise?, sigma?, options, pfgm? }) -> Promise<{ loss,
// gradNorm, skipped, lr }>: one training step; `options` is read by read_train_options.
Napi::Value NetworkHandle::TrainStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("trainStep");
    Napi::Object o = object_arg(info, 0);
    const bool pfgm = has_field(o, "pfgm");
    auto b = std::make_shared<BatchInputs>(
        read_batch(*s, o, "y", pfgm ? Perturbation::kNone : Perturbation::kOptional));
    const TrainOptions t = read_train_options(o);
    const double D = pfgm ? 1.0 : t.D;
    if (!(D > 0)) fail(code::kArgument, "D must be positive or Infinity, got " + std::to_string(D));
    auto pin = std::make_shared<train::PfgmStepInput>();
    auto refs = std::make_shared<std::vector<float>>();
    if (pfgm) {
      Napi::Object p = o.Get("pfgm").As<Napi::Object>();
      const int64_t per = s->net().sample_numel();
      pin->refs_count = int_field(p, "refsCount", 0);
      if (pin->refs_count < 1) fail(code::kArgument, "pfgm.refsCount must be a positive integer");
      *refs = floats(p, "refs", pin->refs_count * per, false);
      pin->M = number_field(p, "M");
      pin->tau = number_field(p, "tau");
      pin->s = number_field(p, "s");
      pin->gamma = number_field(p, "gamma");
      pin->restrict_m = bool_field(p, "restrictM");
      if (!(pin->M >= 0) || !(pin->tau > 0) || !(pin->s > 0) || !(pin->gamma >= 0))
        fail(code::kArgument, "pfgm needs M >= 0, tau > 0, s > 0 and gamma >= 0");
    }
    // Data-parallel steps (docs/distributed.md): the global index of this rank's first sample,
    // and this rank's vote to stop after the step.
    const double offset = has_field(o, "sampleOffset") ? number_field(o, "sampleOffset") : 0;
    if (!(offset >= 0) || offset != std::floor(offset) || offset > 9007199254740991.0)
      fail(code::kArgument, "'sampleOffset' must be a non-negative integer");
    const bool stop_vote = has_field(o, "stopVote") && bool_field(o, "stopVote");
    auto result = std::make_shared<train::StepResult>();
    return PromiseWorker::start(
        env,
        [=]() {
          std::lock_guard<std::mutex> lock(s->mutex());
          if (pfgm) {
            train::PfgmStepInput in = *pin;
            in.batch = b->batch;
            in.y = b->data.data();
            in.refs = refs->data();
            in.labels = b->view();
            in.seed = t.seed;
            in.micro_batch = t.micro_batch;
            in.sample_offset = static_cast<uint64_t>(offset);
            in.stop_vote = stop_vote;
            *result = s->step_pfgm(in, t.opt);
            return;
          }
          train::StepInput in{};
          in.batch = b->batch;
          in.y = b->data.data();
          in.labels = b->view();
          in.D = D;
          in.p_mean = t.p_mean;
          in.p_std = t.p_std;
          in.seed = t.seed;
          in.noise = BatchInputs::or_null(b->noise);
          in.sigma = BatchInputs::or_null(b->sigma);
          in.micro_batch = t.micro_batch;
          in.stf = t.stf;
          in.sample_offset = static_cast<uint64_t>(offset);
          in.stop_vote = stop_vote;
          *result = s->step(in, t.opt);
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("loss", result->loss);
          r.Set("gradNorm", result->grad_norm);
          r.Set("skipped", result->skipped);
          r.Set("lr", result->lr);
          r.Set("stop", result->stop);
          return r;
        });
  });
}

// profile() -> { stage: milliseconds } accumulated since the last call (PFGM_PROFILE=1), then
// reset.
Napi::Value NetworkHandle::Profile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [name, ms] : nn::profile::totals_ms()) o.Set(name, ms);
  nn::profile::totals_ms().clear();
  return o;
}

Napi::Value NetworkHandle::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("counters");
    std::lock_guard<std::mutex> lock(s->mutex());
    Napi::Object o = Napi::Object::New(env);
    o.Set("steps", static_cast<double>(s->steps()));
    o.Set("adamSteps", static_cast<double>(s->adam_steps()));
    o.Set("images", s->images_seen());
    o.Set("skipped", static_cast<double>(s->skipped_steps()));
    return o;
  });
}

Napi::Value NetworkHandle::SetCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("setCounters");
    Napi::Object o = object_arg(info, 0);
    std::lock_guard<std::mutex> lock(s->mutex());
    s->set_counters(int_field(o, "steps", 0), int_field(o, "adamSteps", 0),
                    num_field(o, "images", 0), int_field(o, "skipped", 0));
    return env.Undefined();
  });
}

}  // namespace pfgm::binding

namespace pfgm::binding {

// attachDistributed(group | null): later training steps average over the group (see
// train::Session::set_collectives).
Napi::Value NetworkHandle::AttachDistributed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("attachDistributed");
    std::shared_ptr<dist::Collectives> group;
    if (info.Length() > 0 && !info[0].IsNull() && !info[0].IsUndefined())
      group = DistributedHandle::group_of(info[0]);
    std::lock_guard<std::mutex> lock(s->mutex());
    s->set_collectives(std::move(group));
    return env.Undefined();
  });
}

// syncFromRoot(root) -> Promise<void>: root's weights, EMA, Adam moments and counters on every
// rank of the attached group.
Napi::Value NetworkHandle::SyncFromRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto s = live("syncFromRoot");
    const int root =
        info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    return PromiseWorker::start(
        env,
        [s, root]() {
          std::lock_guard<std::mutex> lock(s->mutex());
          s->sync_from(root);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  });
}

}  // namespace pfgm::binding

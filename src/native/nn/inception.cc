// The FID Inception-v3 (inception.h) over a backend's ops: each BasicConv2d is one convolution with
// the batch norm folded in, the blocks are written out as torchvision's InceptionA-E with
// pytorch-fid's FID pooling, and the branch outputs are placed into their channel range of the
// block's output (torch.cat(dim=1) in NHWC).
#include "inception.h"

#include <algorithm>
#include <cmath>

#include "../errors.h"
#include "../ops/elementwise.h"
#include "profile.h"

namespace pfgm::nn {
namespace {

using op::ConvGeometry;

struct ConvSpec {
  std::string name;
  ConvGeometry g;
};

// kh x kw kernel, one stride for both axes, padding (ph, pw): BasicConv2d's arguments.
ConvGeometry geom(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t stride = 1,
                  int64_t ph = 0, int64_t pw = 0) {
  return {cin, cout, kh, kw, stride, stride, ph, pw};
}

// Every BasicConv2d in the order torchvision's Inception3 registers them (its state-dict order).
std::vector<ConvSpec> make_specs() {
  std::vector<ConvSpec> v;
  auto add = [&](const std::string& name, ConvGeometry g) { v.push_back({name, g}); };
  add("Conv2d_1a_3x3", geom(3, 32, 3, 3, 2));
  add("Conv2d_2a_3x3", geom(32, 32, 3, 3));
  add("Conv2d_2b_3x3", geom(32, 64, 3, 3, 1, 1, 1));
  add("Conv2d_3b_1x1", geom(64, 80, 1, 1));
  add("Conv2d_4a_3x3", geom(80, 192, 3, 3));
  auto block_a = [&](const std::string& p, int64_t cin, int64_t pool_features) {
    add(p + ".branch1x1", geom(cin, 64, 1, 1));
    add(p + ".branch5x5_1", geom(cin, 48, 1, 1));
    add(p + ".branch5x5_2", geom(48, 64, 5, 5, 1, 2, 2));
    add(p + ".branch3x3dbl_1", geom(cin, 64, 1, 1));
    add(p + ".branch3x3dbl_2", geom(64, 96, 3, 3, 1, 1, 1));
    add(p + ".branch3x3dbl_3", geom(96, 96, 3, 3, 1, 1, 1));
    add(p + ".branch_pool", geom(cin, pool_features, 1, 1));
  };
  block_a("Mixed_5b", 192, 32);
  block_a("Mixed_5c", 256, 64);
  block_a("Mixed_5d", 288, 64);
  add("Mixed_6a.branch3x3", geom(288, 384, 3, 3, 2));
  add("Mixed_6a.branch3x3dbl_1", geom(288, 64, 1, 1));
  add("Mixed_6a.branch3x3dbl_2", geom(64, 96, 3, 3, 1, 1, 1));
  add("Mixed_6a.branch3x3dbl_3", geom(96, 96, 3, 3, 2));
  auto block_c = [&](const std::string& p, int64_t c7) {
    add(p + ".branch1x1", geom(768, 192, 1, 1));
    add(p + ".branch7x7_1", geom(768, c7, 1, 1));
    add(p + ".branch7x7_2", geom(c7, c7, 1, 7, 1, 0, 3));
    add(p + ".branch7x7_3", geom(c7, 192, 7, 1, 1, 3, 0));
    add(p + ".branch7x7dbl_1", geom(768, c7, 1, 1));
    add(p + ".branch7x7dbl_2", geom(c7, c7, 7, 1, 1, 3, 0));
    add(p + ".branch7x7dbl_3", geom(c7, c7, 1, 7, 1, 0, 3));
    add(p + ".branch7x7dbl_4", geom(c7, c7, 7, 1, 1, 3, 0));
    add(p + ".branch7x7dbl_5", geom(c7, 192, 1, 7, 1, 0, 3));
    add(p + ".branch_pool", geom(768, 192, 1, 1));
  };
  block_c("Mixed_6b", 128);
  block_c("Mixed_6c", 160);
  block_c("Mixed_6d", 160);
  block_c("Mixed_6e", 192);
  add("Mixed_7a.branch3x3_1", geom(768, 192, 1, 1));
  add("Mixed_7a.branch3x3_2", geom(192, 320, 3, 3, 2));
  add("Mixed_7a.branch7x7x3_1", geom(768, 192, 1, 1));
  add("Mixed_7a.branch7x7x3_2", geom(192, 192, 1, 7, 1, 0, 3));
  add("Mixed_7a.branch7x7x3_3", geom(192, 192, 7, 1, 1, 3, 0));
  add("Mixed_7a.branch7x7x3_4", geom(192, 192, 3, 3, 2));
  auto block_e = [&](const std::string& p, int64_t cin) {
    add(p + ".branch1x1", geom(cin, 320, 1, 1));
    add(p + ".branch3x3_1", geom(cin, 384, 1, 1));
    add(p + ".branch3x3_2a", geom(384, 384, 1, 3, 1, 0, 1));
    add(p + ".branch3x3_2b", geom(384, 384, 3, 1, 1, 1, 0));
    add(p + ".branch3x3dbl_1", geom(cin, 448, 1, 1));
    add(p + ".branch3x3dbl_2", geom(448, 384, 3, 3, 1, 1, 1));
    add(p + ".branch3x3dbl_3a", geom(384, 384, 1, 3, 1, 0, 1));
    add(p + ".branch3x3dbl_3b", geom(384, 384, 3, 1, 1, 1, 0));
    add(p + ".branch_pool", geom(cin, 192, 1, 1));
  };
  block_e("Mixed_7b", 1280);
  block_e("Mixed_7c", 2048);
  return v;
}

const std::vector<ConvSpec>& specs() {
  static const std::vector<ConvSpec> s = make_specs();
  return s;
}

struct Folded {
  std::vector<float> weight;  // OIHW, PyTorch's layout
  std::vector<float> bias;
};

// The folded layer: conv(x, w) then (z - mean) / sqrt(var + eps) * gamma + beta is
// conv(x, w * s) + (beta - mean * s) with s = gamma / sqrt(var + eps), computed in double.
Folded fold(const ConvSpec& spec, const std::map<std::string, std::vector<float>>& weights) {
  auto tensor = [&](const std::string& leaf, size_t count) -> const std::vector<float>& {
    const std::string name = spec.name + "." + leaf;
    auto it = weights.find(name);
    if (it == weights.end())
      fail(code::kArgument, "Inception weights: tensor '" + name + "' is missing");
    if (it->second.size() != count) {
      fail(code::kShape, "Inception weights: tensor '" + name + "' has " +
                             std::to_string(it->second.size()) + " values, expected " +
                             std::to_string(count));
    }
    return it->second;
  };
  const ConvGeometry& g = spec.g;
  const size_t cout = static_cast<size_t>(g.cout);
  const size_t per_out = static_cast<size_t>(g.cin * g.kh * g.kw);
  const std::vector<float>& w = tensor("conv.weight", cout * per_out);
  const std::vector<float>& gamma = tensor("bn.weight", cout);
  const std::vector<float>& beta = tensor("bn.bias", cout);
  const std::vector<float>& mean = tensor("bn.running_mean", cout);
  const std::vector<float>& var = tensor("bn.running_var", cout);
  Folded f{std::vector<float>(w.size()), std::vector<float>(cout)};
  for (size_t o = 0; o < cout; ++o) {
    if (!(var[o] >= 0.0f)) {
      fail(code::kArgument, "Inception weights: '" + spec.name + ".bn.running_var' holds " +
                                std::to_string(var[o]) + " (a variance must be >= 0)");
    }
    const double s = static_cast<double>(gamma[o]) /
                     std::sqrt(static_cast<double>(var[o]) + InceptionV3Fid::kBatchNormEps);
    for (size_t i = 0; i < per_out; ++i)
      f.weight[o * per_out + i] = static_cast<float>(w[o * per_out + i] * s);
    f.bias[o] = static_cast<float>(beta[o] - mean[o] * s);
  }
  return f;
}

// OIHW -> OHWI appended to `out` (the layout of the backends' conv2d_inference_forward).
void append_ohwi(const ConvGeometry& g, const std::vector<float>& oihw, std::vector<float>& out) {
  for (int64_t o = 0; o < g.cout; ++o)
    for (int64_t y = 0; y < g.kh; ++y)
      for (int64_t x = 0; x < g.kw; ++x)
        for (int64_t i = 0; i < g.cin; ++i)
          out.push_back(oihw[static_cast<size_t>(((o * g.cin + i) * g.kh + y) * g.kw + x)]);
}

}  // namespace

const std::vector<InceptionTensor>& inception_tensors() {
  static const std::vector<InceptionTensor> list = [] {
    std::vector<InceptionTensor> v;
    for (const ConvSpec& s : specs()) {
      const ConvGeometry& g = s.g;
      v.push_back({s.name + ".conv.weight", {g.cout, g.cin, g.kh, g.kw}});
      for (const char* leaf : {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}) {
        v.push_back({s.name + "." + leaf, {g.cout}});
      }
    }
    return v;
  }();
  return list;
}

const std::vector<std::string>& InceptionV3Fid::stage_names() {
  static const std::vector<std::string> names{
      "input",    "pool1",    "pool2",    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
      "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"};
  return names;
}

InceptionV3Fid::InceptionV3Fid(const std::map<std::string, std::vector<float>>& weights,
                               Backend& backend)
    : be_(&backend), cpu_layers_(&backend == &cpu_backend()) {
  std::vector<float> params;  // off the CPU engine: every layer's OHWI weight, then its bias
  for (const ConvSpec& s : specs()) {
    Folded f = fold(s, weights);
    Layer& layer = layers_[s.name];
    layer.g = s.g;
    if (cpu_layers_) {
      layer.cpu = cpu::InferenceConv2d(s.g, std::move(f.weight), std::move(f.bias), /*relu=*/true);
      continue;
    }
    layer.weight = static_cast<int64_t>(params.size());
    append_ohwi(s.g, f.weight, params);
    layer.bias = static_cast<int64_t>(params.size());
    params.insert(params.end(), f.bias.begin(), f.bias.end());
  }
  if (!params.empty()) {
    const int64_t count = static_cast<int64_t>(params.size());
    be_->upload(count, params.data(), params_.ensure(*be_, count));
  }
}

// One chunk's forward pass: activation slots handed out from the network's buffers (kept between
// calls, so steady-state batches allocate nothing), the blocks of inception.h, and the taps. Every
// activation lives in the backend's memory and every step is one of its ops.
class InceptionV3Fid::Forward {
 public:
  struct Act {
    float* data;
    op::Nhwc shape;
  };

  Forward(InceptionV3Fid& net, InceptionTaps* taps) : net_(net), be_(*net.be_), taps_(taps) {}

  // A buffer of at least `count` floats in slot `slot` (slots 0 and 1 hold block inputs and outputs
  // in turn, 2 the RGB input, 3 and up the branches of the current block, 11 the uploaded images
  // and 12 the features).
  float* slot(size_t slot, int64_t count) {
    if (net_.buffers_.size() <= slot) net_.buffers_.resize(slot + 1);
    Buffer& b = net_.buffers_[slot];
    if (b.size() < count) b.ensure(be_, count);
    return b.data();
  }

  Act conv(const std::string& name, const Act& x, size_t out_slot) {
    const Layer& layer = net_.layers_.at(name);
    const ConvGeometry& g = layer.g;
    const op::Nhwc out{x.shape.n, g.oh(x.shape.h), g.ow(x.shape.w), g.cout};
    float* y = slot(out_slot, out.numel());
    PFGM_PROFILE("inception.conv");
    if (net_.cpu_layers_) {
      layer.cpu.forward(x.shape.n, x.shape.h, x.shape.w, x.data, y);
    } else {
      const float* p = net_.params_.data();
      be_.conv2d_inference_forward({x.shape.n, x.shape.h, x.shape.w, g, /*relu=*/true}, x.data,
                                   p + layer.weight, p + layer.bias, y);
    }
    return {y, out};
  }

  Act max_pool(const Act& x, int64_t stride, int64_t pad, size_t out_slot) {
    const op::Pool2dShape s{x.shape, 3, 3, stride, stride, pad, pad};
    const op::Nhwc out{x.shape.n, s.oh(), s.ow(), x.shape.c};
    float* y = slot(out_slot, out.numel());
    PFGM_PROFILE("inception.max_pool");
    be_.max_pool2d_forward(s, x.data, y);
    return {y, out};
  }

  // pytorch-fid's patch: F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False).
  Act avg_pool_same(const Act& x, size_t out_slot) {
    const op::Pool2dShape s{x.shape, 3, 3, 1, 1, 1, 1};
    float* y = slot(out_slot, x.shape.numel());
    PFGM_PROFILE("inception.avg_pool");
    be_.avg_pool2d_forward(s, /*count_include_pad=*/false, x.data, y);
    return {y, x.shape};
  }

  // torch.cat(parts, dim=1) in NHWC: each part's channels go to their range of every pixel.
  Act concat(const std::vector<Act>& parts, size_t out_slot) {
    op::Nhwc out = parts.front().shape;
    out.c = 0;
    for (const Act& p : parts) out.c += p.shape.c;
    float* y = slot(out_slot, out.numel());
    PFGM_PROFILE("inception.concat");
    int64_t offset = 0;
    for (const Act& part : parts) {
      be_.place_channels(out.pixels(), part.shape.c, part.data, out.c, offset, y);
      offset += part.shape.c;
    }
    return {y, out};
  }

  // Copies activation `x` into taps[name] as NCHW when that stage was asked for.
  void tap(const std::string& name, const Act& x) {
    if (taps_ == nullptr) return;
    auto it = taps_->find(name);
    if (it == taps_->end()) return;
    std::vector<float>& dst = it->second;
    const size_t at = dst.size();
    dst.resize(at + static_cast<size_t>(x.shape.numel()));
    std::vector<float> tmp;
    const float* host = host_view(be_, x.data, x.shape.numel(), tmp);
    cpu::nhwc_to_nchw(x.shape.n, x.shape.c, x.shape.h, x.shape.w, host, dst.data() + at);
  }

  // FIDInceptionA: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool (padding excluded) -> 1x1.
  Act block_a(const std::string& p, const Act& x, size_t out_slot) {
    const Act b1 = conv(p + ".branch1x1", x, 3);
    const Act b5 = conv(p + ".branch5x5_2", conv(p + ".branch5x5_1", x, 4), 5);
    const Act b3 = conv(p + ".branch3x3dbl_3",
                        conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x, 4), 6), 7);
    const Act bp = conv(p + ".branch_pool", avg_pool_same(x, 4), 8);
    return concat({b1, b5, b3, bp}, out_slot);
  }

  // InceptionB (Mixed_6a): 3x3 stride 2 | 1x1 -> 3x3 -> 3x3 stride 2 | max pool 3 stride 2.
  Act block_b(const std::string& p, const Act& x, size_t out_slot) {
    const Act b3 = conv(p + ".branch3x3", x, 3);
    const Act bd = conv(p + ".branch3x3dbl_3",
                        conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x, 4), 5), 6);
    const Act bp = max_pool(x, 2, 0, 7);
    return concat({b3, bd, bp}, out_slot);
  }

  // FIDInceptionC: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg pool -> 1x1.
  Act block_c(const std::string& p, const Act& x, size_t out_slot) {
    const Act b1 = conv(p + ".branch1x1", x, 3);
    Act b7 = conv(p + ".branch7x7_1", x, 4);
    b7 = conv(p + ".branch7x7_2", b7, 5);
    b7 = conv(p + ".branch7x7_3", b7, 6);
    Act bd = conv(p + ".branch7x7dbl_1", x, 4);
    bd = conv(p + ".branch7x7dbl_2", bd, 5);
    bd = conv(p + ".branch7x7dbl_3", bd, 4);
    bd = conv(p + ".branch7x7dbl_4", bd, 5);
    bd = conv(p + ".branch7x7dbl_5", bd, 7);
    const Act bp = conv(p + ".branch_pool", avg_pool_same(x, 4), 8);
    return concat({b1, b7, bd, bp}, out_slot);
  }

  // InceptionD (Mixed_7a): 1x1 -> 3x3 stride 2 | 1x1 -> 1x7 -> 7x1 -> 3x3 stride 2 | max pool 3/2.
  Act block_d(const std::string& p, const Act& x, size_t out_slot) {
    const Act b3 = conv(p + ".branch3x3_2", conv(p + ".branch3x3_1", x, 4), 3);
    Act b7 = conv(p + ".branch7x7x3_1", x, 4);
    b7 = conv(p + ".branch7x7x3_2", b7, 5);
    b7 = conv(p + ".branch7x7x3_3", b7, 4);
    b7 = conv(p + ".branch7x7x3_4", b7, 6);
    const Act bp = max_pool(x, 2, 0, 7);
    return concat({b3, b7, bp}, out_slot);
  }

  // FIDInceptionE_1 / E_2: 1x1 | 1x1 -> [1x3, 3x1] | 1x1 -> 3x3 -> [1x3, 3x1] | pool -> 1x1, with
  // the pool an average without the padding (E_1) or a max pool 3 stride 1 padding 1 (E_2).
  Act block_e(const std::string& p, const Act& x, bool max_pooled, size_t out_slot) {
    const Act b1 = conv(p + ".branch1x1", x, 3);
    const Act t = conv(p + ".branch3x3_1", x, 4);
    const Act b3a = conv(p + ".branch3x3_2a", t, 5);
    const Act b3b = conv(p + ".branch3x3_2b", t, 6);
    const Act d = conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x, 4), 7);
    const Act bda = conv(p + ".branch3x3dbl_3a", d, 4);
    const Act bdb = conv(p + ".branch3x3dbl_3b", d, 8);
    const Act pooled = max_pooled ? max_pool(x, 1, 1, 9) : avg_pool_same(x, 9);
    const Act bp = conv(p + ".branch_pool", pooled, 10);
    // cat([b1, cat([b3a, b3b]), cat([bda, bdb]), bp]) is one concatenation of the six.
    return concat({b1, b3a, b3b, bda, bdb, bp}, out_slot);
  }

  // images [b, c, h, w] NCHW (host) -> [b, 299, 299, 3] NHWC: uploaded once, a grayscale channel
  // repeated three times (pytorch-fid expects RGB), then the bilinear resize unless the images are
  // 299x299 already.
  Act input(int64_t b, int64_t c, int64_t h, int64_t w, const float* src) {
    PFGM_PROFILE("inception.input");
    const int64_t pixels = b * h * w;
    const float* images = src;  // the CPU engine's memory is the host's
    if (!net_.cpu_layers_) {
      float* uploaded = slot(11, pixels * c);
      be_.upload(pixels * c, src, uploaded);
      images = uploaded;
    }
    float* rgb = slot(2, pixels * 3);
    if (c == 3) {
      be_.nchw_to_nhwc(b, 3, h, w, images, rgb);
    } else {  // [b, 1, h, w] is [b, h, w, 1]
      for (int64_t k = 0; k < 3; ++k) be_.place_channels(pixels, 1, images, 3, k, rgb);
    }
    if (h == kResolution && w == kResolution) return {rgb, {b, h, w, 3}};
    // Slot 3 is free until the first block; the stem reads the resized input from it.
    float* resized = slot(3, b * kResolution * kResolution * 3);
    be_.resize_bilinear_forward({b, h, w, 3}, kResolution, kResolution, rgb, resized);
    return {resized, {b, kResolution, kResolution, 3}};
  }

  // x: [n, 299, 299, 3] NHWC in [-1, 1]; out: [n, 2048].
  void run(const Act& x, float* out) {
    tap("input", x);
    Act a = conv("Conv2d_1a_3x3", x, 0);
    a = conv("Conv2d_2a_3x3", a, 1);
    a = conv("Conv2d_2b_3x3", a, 0);
    a = max_pool(a, 2, 0, 1);
    tap("pool1", a);
    a = conv("Conv2d_3b_1x1", a, 0);
    a = conv("Conv2d_4a_3x3", a, 1);
    a = max_pool(a, 2, 0, 0);
    tap("pool2", a);
    size_t next = 1;  // blocks alternate between slots 0 and 1
    auto stage = [&](const std::string& name, Act result) {
      a = result;
      next = 1 - next;
      tap(name, a);
    };
    for (const char* name : {"Mixed_5b", "Mixed_5c", "Mixed_5d"})
      stage(name, block_a(name, a, next));
    stage("Mixed_6a", block_b("Mixed_6a", a, next));
    for (const char* name : {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"})
      stage(name, block_c(name, a, next));
    stage("Mixed_7a", block_d("Mixed_7a", a, next));
    stage("Mixed_7b", block_e("Mixed_7b", a, /*max_pooled=*/false, next));
    stage("Mixed_7c", block_e("Mixed_7c", a, /*max_pooled=*/true, next));
    PFGM_PROFILE("inception.global_pool");
    // [n, 1, 1, 2048] is [n, 2048]; the one download of the batch
    float* features = slot(12, a.shape.n * kFeatures);
    be_.adaptive_avg_pool2d_forward(a.shape, 1, 1, a.data, features);
    be_.download(a.shape.n * kFeatures, features, out);
  }

 private:
  InceptionV3Fid& net_;
  Backend& be_;
  InceptionTaps* taps_;
};

void InceptionV3Fid::features(int64_t n, int64_t c, int64_t h, int64_t w, const float* images,
                              int64_t batch, float* out, InceptionTaps* taps) {
  if (n < 0 || (c != 1 && c != 3) || h < 1 || w < 1) {
    fail(code::kShape, "Inception features: images must be [n, 1 or 3, h >= 1, w >= 1], got [" +
                           std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(h) +
                           ", " + std::to_string(w) + "]");
  }
  if (batch < 1) fail(code::kArgument, "Inception features: the batch must be >= 1");
  if (taps != nullptr) {
    for (const auto& [name, values] : *taps) {
      const auto& known = stage_names();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        fail(code::kArgument, "Inception features: no stage named '" + name + "'");
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  Forward f(*this, taps);
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t b = std::min(batch, n - start);
    f.run(f.input(b, c, h, w, images + start * c * h * w), out + start * kFeatures);
  }
}

}  // namespace pfgm::nn

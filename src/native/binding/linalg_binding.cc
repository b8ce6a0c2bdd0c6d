// Every call copies its inputs out of JS first (JS may reuse its arrays at once) and runs on a
// worker thread: at 2048 features an eigendecomposition takes seconds. The TypeScript layer
// (src/eval/) validates first; the checks here keep direct calls safe anyway.
#include "linalg_binding.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../linalg/eigh.h"
#include "../linalg/frechet.h"
#include "../linalg/knn.h"
#include "../linalg/statistics.h"
#include "napi_util.h"

namespace pfgm::binding {
namespace {

// Dimensions up to 2^15: a 32768 x 32768 double matrix is already 8 GB.
constexpr double kMaxDim = 32768;

int64_t count_arg(const Napi::CallbackInfo& info, size_t i, const char* what, double lo,
                  double hi) {
  if (info.Length() <= i || !info[i].IsNumber())
    fail(code::kArgument, std::string(what) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= lo && v <= hi) || std::floor(v) != v) {
    fail(code::kArgument,
         std::string(what) + " must be an integer in [" + std::to_string(static_cast<int64_t>(lo)) +
             ", " + std::to_string(static_cast<int64_t>(hi)) + "], got " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

// A Float64Array (or, where `allow_float` says so, a Float32Array) argument of exactly `count`
// values, copied to double.
std::vector<double> doubles_arg(const Napi::CallbackInfo& info, size_t i, const char* what,
                                int64_t count, bool allow_float = false) {
  const char* types =
      allow_float ? " must be a Float32Array or Float64Array" : " must be a Float64Array";
  if (info.Length() <= i || !info[i].IsTypedArray()) fail(code::kDtype, std::string(what) + types);
  Napi::TypedArray t = info[i].As<Napi::TypedArray>();
  if (static_cast<int64_t>(t.ElementLength()) != count) {
    fail(code::kShape, std::string(what) + " has " + std::to_string(t.ElementLength()) +
                           " values, expected " + std::to_string(count));
  }
  if (t.TypedArrayType() == napi_float64_array) {
    const double* p = t.As<Napi::Float64Array>().Data();
    return std::vector<double>(p, p + count);
  }
  if (allow_float && t.TypedArrayType() == napi_float32_array) {
    const float* p = t.As<Napi::Float32Array>().Data();
    return std::vector<double>(p, p + count);
  }
  fail(code::kDtype, std::string(what) + types);
}

void require_finite(const std::vector<double>& v, const char* what) {
  for (double x : v)
    if (!std::isfinite(x))
      fail(code::kArgument, std::string(what) + " holds a NaN or infinite value");
}

Napi::Float64Array to_js(Napi::Env env, const std::vector<double>& v) {
  Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// symmetricEigen(a: Float64Array [n*n], n, vectors: boolean)
//   -> Promise<{ values: Float64Array (ascending), vectors?: Float64Array (column j = vector j) }>
Napi::Value SymmetricEigen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int64_t n = count_arg(info, 1, "n", 1, kMaxDim);
    auto a = std::make_shared<std::vector<double>>(doubles_arg(info, 0, "the matrix", n * n));
    require_finite(*a, "the matrix");
    const bool want = info.Length() > 2 && info[2].ToBoolean().Value();
    auto values = std::make_shared<std::vector<double>>(static_cast<size_t>(n));
    auto vectors = std::make_shared<std::vector<double>>(want ? static_cast<size_t>(n * n) : 0);
    return PromiseWorker::start(
        env,
        [=]() {
          std::vector<double> rows(want ? static_cast<size_t>(n * n) : 0);
          linalg::symmetric_eigen(n, a->data(), values->data(), want ? rows.data() : nullptr);
          // rows holds V^T; hand out V (column j = eigenvector j), as LAPACK and torch do.
          for (int64_t i = 0; want && i < n; ++i)
            for (int64_t j = 0; j < n; ++j) (*vectors)[i * n + j] = rows[j * n + i];
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("values", to_js(e, *values));
          if (want) r.Set("vectors", to_js(e, *vectors));
          return r;
        });
  });
}

// featureStats(x: Float32Array | Float64Array [rows*dim], rows, dim) -> Promise<{ mean, cov }>
// Float features stay float until each block is centred (50k x 2048 features are 400 MB).
Napi::Value FeatureStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int64_t rows = count_arg(info, 1, "rows", 2, 1e9);
    const int64_t dim = count_arg(info, 2, "dim", 1, kMaxDim);
    if (static_cast<double>(rows) * static_cast<double>(dim) > 4e9)
      fail(code::kMemory, "featureStats: too many features");
    auto xf = std::make_shared<std::vector<float>>();
    auto xd = std::make_shared<std::vector<double>>();
    const bool is_float = info[0].IsTypedArray() &&
                          info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
    if (is_float) {
      Napi::Float32Array a = info[0].As<Napi::Float32Array>();
      if (static_cast<int64_t>(a.ElementLength()) != rows * dim)
        fail(code::kShape, "the features have " + std::to_string(a.ElementLength()) +
                               " values, expected " + std::to_string(rows * dim));
      xf->assign(a.Data(), a.Data() + rows * dim);
      for (float v : *xf)
        if (!std::isfinite(v)) fail(code::kArgument, "the features hold a NaN or infinite value");
    } else {
      *xd = doubles_arg(info, 0, "the features", rows * dim, true);
      require_finite(*xd, "the features");
    }
    auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(dim));
    auto cov = std::make_shared<std::vector<double>>(static_cast<size_t>(dim * dim));
    return PromiseWorker::start(
        env,
        [=]() {
          if (is_float) {
            linalg::feature_stats(rows, dim, xf->data(), mean->data(), cov->data());
          } else {
            linalg::feature_stats(rows, dim, xd->data(), mean->data(), cov->data());
          }
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("mean", to_js(e, *mean));
          r.Set("cov", to_js(e, *cov));
          return r;
        });
  });
}

// frechetDistance(mean1, cov1, mean2, cov2, n, tolerance) -> Promise<{ distance, ... }>
Napi::Value FrechetDistance(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int64_t n = count_arg(info, 4, "n", 1, kMaxDim);
    if (info.Length() <= 5 || !info[5].IsNumber())
      fail(code::kArgument, "tolerance must be a number");
    const double tol = info[5].As<Napi::Number>().DoubleValue();
    if (!(tol >= 0 && tol < 1)) fail(code::kArgument, "tolerance must be in [0, 1)");
    auto m1 = std::make_shared<std::vector<double>>(doubles_arg(info, 0, "mean1", n));
    auto c1 = std::make_shared<std::vector<double>>(doubles_arg(info, 1, "cov1", n * n));
    auto m2 = std::make_shared<std::vector<double>>(doubles_arg(info, 2, "mean2", n));
    auto c2 = std::make_shared<std::vector<double>>(doubles_arg(info, 3, "cov2", n * n));
    require_finite(*m1, "mean1");
    require_finite(*c1, "cov1");
    require_finite(*m2, "mean2");
    require_finite(*c2, "cov2");
    auto out = std::make_shared<linalg::FrechetResult>();
    return PromiseWorker::start(
        env,
        [=]() {
          *out = linalg::frechet_distance(n, m1->data(), c1->data(), m2->data(), c2->data(), tol);
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("distance", out->distance);
          r.Set("meanTerm", out->mean_term);
          r.Set("trace1", out->trace1);
          r.Set("trace2", out->trace2);
          r.Set("traceSqrt", out->trace_sqrt);
          r.Set("clamped1", static_cast<double>(out->clamped1));
          r.Set("clamped2", static_cast<double>(out->clamped2));
          r.Set("mostNegative1", out->most_negative1);
          r.Set("mostNegative2", out->most_negative2);
          r.Set("rank1", static_cast<double>(out->rank1));
          return r;
        });
  });
}

// knnRadii(x: Float32Array | Float64Array [rows*dim], rows, dim, k) -> Promise<Float64Array>
Napi::Value KnnRadii(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int64_t rows = count_arg(info, 1, "rows", 2, 1e8);
    const int64_t dim = count_arg(info, 2, "dim", 1, 1e6);
    const int64_t k = count_arg(info, 3, "k", 1, static_cast<double>(rows - 1));
    if (static_cast<double>(rows) * static_cast<double>(dim) > 4e9)
      fail(code::kMemory, "knnRadii: too many values");
    auto x =
        std::make_shared<std::vector<double>>(doubles_arg(info, 0, "the points", rows * dim, true));
    require_finite(*x, "the points");
    auto radius = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
    return PromiseWorker::start(
        env, [=]() { linalg::knn_radii(rows, dim, x->data(), k, radius->data()); },
        [=](Napi::Env e) -> Napi::Value { return to_js(e, *radius); });
  });
}

// manifoldCoverage(real, nReal, fake, nFake, dim, realRadius, fakeRadius)
//   -> Promise<{ precisionHits, recallHits, fakeInReal: Uint8Array, realInFake: Uint8Array }>
Napi::Value ManifoldCoverage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int64_t nr = count_arg(info, 1, "nReal", 1, 1e8);
    const int64_t nf = count_arg(info, 3, "nFake", 1, 1e8);
    const int64_t dim = count_arg(info, 4, "dim", 1, 1e6);
    if (static_cast<double>(nr + nf) * static_cast<double>(dim) > 4e9)
      fail(code::kMemory, "manifoldCoverage: too many values");
    auto real = std::make_shared<std::vector<double>>(
        doubles_arg(info, 0, "the real points", nr * dim, true));
    auto fake = std::make_shared<std::vector<double>>(
        doubles_arg(info, 2, "the fake points", nf * dim, true));
    auto rr = std::make_shared<std::vector<double>>(doubles_arg(info, 5, "realRadius", nr));
    auto fr = std::make_shared<std::vector<double>>(doubles_arg(info, 6, "fakeRadius", nf));
    require_finite(*real, "the real points");
    require_finite(*fake, "the fake points");
    require_finite(*rr, "realRadius");
    require_finite(*fr, "fakeRadius");
    auto fake_in = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(nf));
    auto real_in = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(nr));
    auto cov = std::make_shared<linalg::Coverage>();
    return PromiseWorker::start(
        env,
        [=]() {
          *cov = linalg::manifold_coverage(nr, nf, dim, real->data(), fake->data(), rr->data(),
                                           fr->data(), fake_in->data(), real_in->data());
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("precisionHits", static_cast<double>(cov->precision_hits));
          r.Set("recallHits", static_cast<double>(cov->recall_hits));
          Napi::Uint8Array a = Napi::Uint8Array::New(e, fake_in->size());
          std::copy(fake_in->begin(), fake_in->end(), a.Data());
          Napi::Uint8Array b = Napi::Uint8Array::New(e, real_in->size());
          std::copy(real_in->begin(), real_in->end(), b.Data());
          r.Set("fakeInReal", a);
          r.Set("realInFake", b);
          return r;
        });
  });
}

}  // namespace

void InitLinalg(Napi::Env env, Napi::Object exports) {
  exports.Set("symmetricEigen", Napi::Function::New(env, SymmetricEigen));
  exports.Set("featureStats", Napi::Function::New(env, FeatureStats));
  exports.Set("frechetDistance", Napi::Function::New(env, FrechetDistance));
  exports.Set("knnRadii", Napi::Function::New(env, KnnRadii));
  exports.Set("manifoldCoverage", Napi::Function::New(env, ManifoldCoverage));
}

}  // namespace pfgm::binding

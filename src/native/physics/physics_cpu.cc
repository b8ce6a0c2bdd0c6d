// CPU reference of the physics kernels: plain loops over the shared per-sample math (noise.h),
// parallel over samples and blocks with OpenMP.
#include <cmath>
#include <vector>

#include "physics.h"

namespace pfgm::cpu {
namespace {

// Squared norm of sample i's Gaussian stream: regenerated from its counter, never stored.
double gauss_norm2(const StreamKey& key, int64_t n) {
  double acc = 0.0;
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = 0; b < blocks; ++b) {
    double g[4];
    normals4(key, static_cast<uint32_t>(b), g);
    const int64_t lanes = n - 4 * b < 4 ? n - 4 * b : 4;
    for (int64_t l = 0; l < lanes; ++l) acc += g[l] * g[l];
  }
  return acc;
}

// out[i, :] = (y[i, :] or 0) + factor[i] * g_i, g_i read from the stream of `purpose`.
template <typename T>
void add_scaled_gauss(const T* y, T* out, const std::vector<double>& factor, int64_t n,
                      const SampleStreams& streams, uint32_t purpose) {
  const int64_t count = static_cast<int64_t>(factor.size());
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < count * blocks; ++t) {
    const int64_t i = t / blocks, b = t % blocks;
    double g[4];
    normals4(streams.key(i, purpose), static_cast<uint32_t>(b), g);
    const int64_t lanes = n - 4 * b < 4 ? n - 4 * b : 4;
    const int64_t base = i * n + 4 * b;
    for (int64_t l = 0; l < lanes; ++l) {
      const double y0 = y != nullptr ? static_cast<double>(y[base + l]) : 0.0;
      out[base + l] = static_cast<T>(y0 + factor[i] * g[l]);
    }
  }
}

template <typename T>
void student_t_noise(const T* y, T* out, const NoiseSpec& s) {
  std::vector<double> factor(static_cast<size_t>(s.count));
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < s.count; ++i) {
    double f = student_t_scale(s, i);
    if (s.clipped()) {
      const double g_norm = sqrt(gauss_norm2(s.streams.key(i, s.purpose_gauss), s.n));
      f *= clip_factor(f * g_norm, s.clip_min, s.clip_max);
    }
    factor[i] = f;
  }
  add_scaled_gauss(y, out, factor, s.n, s.streams, s.purpose_gauss);
}

template <typename T>
void pfgm_perturb(const T* y, T* x, T* z, const PfgmSpec& p) {
  std::vector<double> factor(static_cast<size_t>(p.count));
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < p.count; ++i) {
    const PfgmSampleDraw d = pfgm_sample_draw(p, i);
    // Uniform direction u = g / ||g||, so x = y + (R / ||g||) g.
    const double g_norm = sqrt(gauss_norm2(p.streams.key(i, kPurposePfgmDirection), p.n));
    factor[i] = d.radius / g_norm;
    z[i] = static_cast<T>(d.z);
  }
  add_scaled_gauss(y, x, factor, p.n, p.streams, kPurposePfgmDirection);
}

template <typename T>
void training_sigma(T* out, int64_t count, double p_mean, double p_std,
                    const SampleStreams& streams) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    double g[4];
    normals4(streams.key(i, kPurposeTrainSigma), 0, g);
    out[i] = static_cast<T>(exp(p_mean + p_std * g[0]));
  }
}

}  // namespace

void student_t_noise_f32(const float* y, float* out, const NoiseSpec& s) {
  student_t_noise(y, out, s);
}
void student_t_noise_f64(const double* y, double* out, const NoiseSpec& s) {
  student_t_noise(y, out, s);
}
void pfgm_perturb_f32(const float* y, float* x, float* z, const PfgmSpec& p) {
  pfgm_perturb(y, x, z, p);
}
void pfgm_perturb_f64(const double* y, double* x, double* z, const PfgmSpec& p) {
  pfgm_perturb(y, x, z, p);
}
void training_sigma_f32(float* out, int64_t count, double p_mean, double p_std,
                        const SampleStreams& streams) {
  training_sigma(out, count, p_mean, p_std, streams);
}
void training_sigma_f64(double* out, int64_t count, double p_mean, double p_std,
                        const SampleStreams& streams) {
  training_sigma(out, count, p_mean, p_std, streams);
}

}  // namespace pfgm::cpu

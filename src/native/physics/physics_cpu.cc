// CPU reference of the physics kernels: plain loops over the per-sample and per-element steps
// shared with cuda/kernels/physics.cu (physics_math.h), parallel over samples and blocks with
// OpenMP.
#include <vector>

#include "physics.h"
#include "physics_math.h"

namespace pfgm::cpu {
namespace {

// out[i, :] = (y[i, :] or 0) + factor[i] * g_i, g_i read from the stream of `purpose`.
template <typename T>
void add_scaled_gauss(const T* y, T* out, const std::vector<double>& factor, int64_t n,
                      const SampleStreams& streams, uint32_t purpose) {
  const int64_t count = static_cast<int64_t>(factor.size());
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < count * blocks; ++t) {
    const int64_t i = t / blocks, b = t % blocks;
    add_scaled_gauss_block(y, out, factor[i], i, b, n, streams.key(i, purpose));
  }
}

template <typename T>
void student_t_noise(const T* y, T* out, const NoiseSpec& s) {
  std::vector<double> factor(static_cast<size_t>(s.count));
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < s.count; ++i) {
    const double norm2 =
        s.clipped() ? gauss_norm2_part(s.streams.key(i, s.purpose_gauss), s.n, 0, 1) : 0.0;
    factor[i] = student_t_factor(s, i, norm2);
  }
  add_scaled_gauss(y, out, factor, s.n, s.streams, s.purpose_gauss);
}

template <typename T>
void pfgm_perturb(const T* y, T* x, T* z, const PfgmSpec& p) {
  std::vector<double> factor(static_cast<size_t>(p.count));
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < p.count; ++i) {
    const PfgmSampleDraw d = pfgm_sample_draw(p, i);
    const double norm2 = gauss_norm2_part(p.streams.key(i, kPurposePfgmDirection), p.n, 0, 1);
    factor[i] = pfgm_factor(d, norm2);
    z[i] = static_cast<T>(d.z);
  }
  add_scaled_gauss(y, x, factor, p.n, p.streams, kPurposePfgmDirection);
}

template <typename T>
void training_sigma(T* out, int64_t count, double p_mean, double p_std,
                    const SampleStreams& streams) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    out[i] = static_cast<T>(training_sigma_value(streams, i, p_mean, p_std));
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

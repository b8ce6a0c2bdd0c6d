// The kernel lab's executable (bench/kernels/README.md): runs one family's variants, checks each
// against the CPU reference and times it, and prints one JSON object (run.mjs makes the table).
//   pfgm_kernellab_{cuda,emu} --list
//   pfgm_kernellab_{cuda,emu} <family> [--variant name|index] [--size small|full]
//                             [--iters N] [--warmup N]
// Exit status: 0 every check passed, 1 a check failed, 2 a usage error, 3 an error while running.
#include "lab.cuh"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>

#include "errors.h"

namespace lab {
namespace {

struct Family {
  std::string about;
  FamilyFn fn;
};

std::map<std::string, Family>& families() {
  static std::map<std::string, Family> f;
  return f;
}

#ifdef PFGM_LAB_EMU
constexpr const char* kDeviceKind = "emu";
constexpr const char* kTiming =
    "wall time on the CUDA emulator (every thread a fiber on the CPU): not a performance number";
std::string device_name() { return "CUDA emulator on the CPU (test/native/emucuda)"; }
#else
constexpr const char* kDeviceKind = "cuda";
constexpr const char* kTiming = "CUDA events around the calls, per call";
std::string device_name() {
  int device = 0;
  cudaDeviceProp prop{};
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return prop.name;
}
#endif

// Milliseconds per call of `fn` over `iters` calls.
double time_calls(const std::function<void()>& fn, int iters) {
  if (iters <= 0) return 0;
#ifdef PFGM_LAB_EMU
  // The emulator completes every launch before it returns: wall time is the whole story.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (timing)");
  const std::chrono::duration<double, std::milli> dt = std::chrono::steady_clock::now() - t0;
  return dt.count() / iters;
#else
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  check(cudaEventRecord(start, nullptr), "cudaEventRecord");
  for (int i = 0; i < iters; ++i) fn();
  check(cudaEventRecord(stop, nullptr), "cudaEventRecord");
  check(cudaEventSynchronize(stop), "cudaEventSynchronize (timing)");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return static_cast<double>(ms) / iters;
#endif
}

Check finish(Check c, const std::vector<float>& got, const std::vector<float>& want,
             const std::function<double(size_t)>& scale_of) {
  if (got.size() != want.size()) {
    c.pass = false;
    c.max_abs = c.max_rel = INFINITY;
    return c;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(g) && std::isnan(w)) continue;
    const double abs = std::fabs(g - w);
    const double rel = abs == 0 ? 0 : abs / scale_of(i);
    if (std::isnan(c.max_abs)) break;  // a NaN against a number: the worst there is
    if (!(abs <= c.max_abs)) c.max_abs = abs;
    if (!(rel <= c.max_rel)) c.max_rel = rel;
  }
  c.pass = c.tol == 0 ? c.max_abs == 0 : c.max_rel <= c.tol;  // false for NaN
  return c;
}

// JSON output -----------------------------------------------------------------------------------
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string number(double v) {
  if (std::isnan(v)) return "\"NaN\"";
  if (std::isinf(v)) return "\"Infinity\"";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string json(const std::string& family, const Options& opt, const Report& r, bool all_pass) {
  std::string s = "{\"family\":" + quote(family) + ",\"device\":" + quote(kDeviceKind) +
                  ",\"device_name\":" + quote(device_name()) + ",\"timing\":" + quote(kTiming) +
                  ",\"size\":" + quote(opt.size) + ",\"pass\":" + (all_pass ? "true" : "false") +
                  ",\"rows\":[";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const Row& row = r.rows[i];
    s += std::string(i ? "," : "") + "{\"case\":" + quote(row.case_name) +
         ",\"variant\":" + quote(row.variant) + ",\"about\":" + quote(row.about) +
         ",\"ms\":" + number(row.ms) + ",\"iters\":" + std::to_string(row.iters) + ",\"checks\":[";
    for (size_t j = 0; j < row.checks.size(); ++j) {
      const Check& c = row.checks[j];
      s += std::string(j ? "," : "") + "{\"output\":" + quote(c.output) +
           ",\"scale\":" + quote(c.scale) + ",\"max_abs\":" + number(c.max_abs) +
           ",\"max_rel\":" + number(c.max_rel) + ",\"tol\":" + number(c.tol) +
           ",\"pass\":" + (c.pass ? "true" : "false") + "}";
    }
    s += "]}";
  }
  return s + "]}";
}

int usage(const std::string& why) {
  std::fprintf(stderr,
               "pfgm_kernellab: %s\nusage: pfgm_kernellab_{cuda,emu} --list | <family> "
               "[--variant name|index] [--size small|full] [--iters N] [--warmup N]\n",
               why.c_str());
  return 2;
}

}  // namespace

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();
  pfgm::fail(pfgm::code::kCuda, std::string(what) + " failed: " + cudaGetErrorName(status) + " (" +
                                    cudaGetErrorString(status) + ")");
}

std::vector<float> uniform(int64_t count, float lo, float hi, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(count));
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (float& x : v) {
    s += 0x9e3779b97f4a7c15ull;  // splitmix64
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
    x = static_cast<float>(lo + (hi - lo) * u);
  }
  return v;
}

Check of_largest(const std::string& output, const std::vector<float>& got,
                 const std::vector<float>& want, double tol) {
  double m = 0;
  for (const float w : want) m = std::fmax(m, std::fabs(static_cast<double>(w)));
  if (m == 0) m = 1;
  return finish(Check{output, "largest |reference|", 0, 0, tol, true}, got, want,
                [m](size_t) { return m; });
}

Check per_element(const std::string& output, const std::vector<float>& got,
                  const std::vector<float>& want, double tol) {
  return finish(Check{output, "|reference| per element", 0, 0, tol, true}, got, want,
                [&want](size_t i) { return std::fabs(static_cast<double>(want[i])); });
}

Check scaled(const std::string& output, const std::vector<float>& got,
             const std::vector<float>& want, const std::vector<double>& scales, double tol,
             const std::string& scale) {
  return finish(Check{output, scale, 0, 0, tol, true}, got, want,
                [&scales](size_t i) { return scales[i]; });
}

Check exact(const std::string& output, const std::vector<float>& got,
            const std::vector<float>& want) {
  Check c{output, "bit for bit", 0, 0, 0, true};
  c = finish(c, got, want, [](size_t) { return 1.0; });
  for (size_t i = 0; c.pass && i < got.size(); ++i) {
    c.pass = std::memcmp(&got[i], &want[i], sizeof(float)) == 0 ||
             (std::isnan(got[i]) && std::isnan(want[i]));
  }
  return c;
}

void run_case(const Options& opt, Report& report, const std::string& case_name,
              const std::vector<Variant>& variants, const std::function<void()>& prepare,
              const std::function<std::vector<Check>()>& verify) {
  for (size_t k = 0; k < variants.size(); ++k) {
    const Variant& v = variants[k];
    if (!opt.variant.empty() && opt.variant != v.name && opt.variant != std::to_string(k)) continue;
    Row row{case_name, v.name, v.about, {}, 0, opt.iters};
    prepare();
    v.run();
    check(cudaDeviceSynchronize(), ("variant " + v.name).c_str());
    row.checks = verify();
    for (int i = 0; i < opt.warmup; ++i) v.run();
    check(cudaDeviceSynchronize(), ("variant " + v.name + " (warm-up)").c_str());
    row.ms = time_calls(v.run, opt.iters);
    report.rows.push_back(row);
  }
}

Registration::Registration(const char* name, const char* about, FamilyFn fn) {
  families()[name] = Family{about, fn};
}

}  // namespace lab

int main(int argc, char** argv) {
  using lab::families;
  if (argc < 2) return lab::usage("no family given");
  const std::string family = argv[1];
  if (family == "--list") {
    std::string s = "{\"device\":\"" + std::string(lab::kDeviceKind) + "\",\"families\":[";
    bool first = true;
    for (const auto& [name, f] : families()) {
      s += std::string(first ? "" : ",") + "{\"name\":" + lab::quote(name) +
           ",\"about\":" + lab::quote(f.about) + "}";
      first = false;
    }
    std::printf("%s]}\n", s.c_str());
    return 0;
  }
  const auto it = families().find(family);
  if (it == families().end()) return lab::usage("no family '" + family + "' (--list names them)");
#ifdef PFGM_LAB_EMU
  lab::Options opt{"small", "", 1, 3};
#else
  lab::Options opt{"full", "", 5, 50};
#endif
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return lab::usage(arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--variant") {
      opt.variant = value;
    } else if (arg == "--size" && (value == "small" || value == "full")) {
      opt.size = value;
    } else if (arg == "--iters") {
      opt.iters = std::atoi(value.c_str());
    } else if (arg == "--warmup") {
      opt.warmup = std::atoi(value.c_str());
    } else {
      return lab::usage("bad option " + arg + " " + value);
    }
  }
  lab::Report report;
  try {
    it->second.fn(opt, report);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pfgm_kernellab %s: %s\n", family.c_str(), e.what());
    return 3;
  }
  if (report.rows.empty()) return lab::usage("no variant '" + opt.variant + "' in " + family);
  bool all = true;
  for (const lab::Row& row : report.rows) {
    for (const lab::Check& c : row.checks) all = all && c.pass;
  }
  std::printf("%s\n", lab::json(family, opt, report, all).c_str());
  return all ? 0 : 1;
}

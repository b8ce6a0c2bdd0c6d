// Op case `guarded_probe`: shows that the guarded device (backend_guarded.cc) catches what it is
// there to catch, so that its silence over a whole network means something
// (test/native/network-guarded.test.ts). It uploads x, scales it by 2 on the device and downloads
// y; attribute `fault` makes one deliberate mistake first:
//   0 none, 1 a host pointer given to a device op, 2 an op told to read past its array,
//   3 an op given released memory, 4 device memory where a host array is expected,
//   5 host code reading device memory (the process ends with status 86: run it in a child).
#include <vector>

#include "cases/op_cases.h"
#include "errors.h"
#include "guarded.h"
#include "nn/backend.h"

namespace pfgm::opcases {
namespace {

void guarded_probe_case(const Attrs& attrs, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const int64_t n = numel(x.shape);
  if (n == 0) fail(code::kShape, "guarded_probe: x must not be empty");
  const int fault = static_cast<int>(attr(attrs, "fault", 0));
  nn::Backend& be = nn::guarded_backend();
  float* dx = be.allocate(n);
  float* dy = be.allocate(n);
  // Frees both arrays however the case ends.
  struct Release {
    nn::Backend& be;
    float* a;
    float* b;
    ~Release() {
      be.release(a);
      be.release(b);
    }
  } release{be, dx, dy};
  be.upload(n, x.data.data(), dx);
  std::vector<float> host(static_cast<size_t>(n));
  std::vector<double> sums(1);
  float* gone = nullptr;
  switch (fault) {
    case 0: break;
    case 1: be.scale(n, 2.0f, host.data(), dy); break;
    case 2: be.scale(n + 1, 2.0f, dx, dy); break;
    case 3:
      gone = be.allocate(n);
      be.release(gone);
      be.scale(n, 2.0f, gone, dy);
      break;
    case 4: be.scale_rows(1, n, dx, dx, dy); break;
    case 5: host[0] = dx[0]; break;  // faults
    default: fail(code::kArgument, "guarded_probe: fault must be 0 to 5");
  }
  be.scale(n, 2.0f, dx, dy);
  be.download(n, dy, output(out, "y", x.shape));
  be.sumsq_rows(1, n, dy, sums.data());
  write_double(out, "sumsq", sums[0]);
}

PFGM_OP_CASE("guarded_probe", guarded_probe_case);

}  // namespace
}  // namespace pfgm::opcases

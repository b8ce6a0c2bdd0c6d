// The order of stream, event and NCCL calls the fake-CUDA test addon saw (fake_streams.cc,
// fake_nccl.cc), read by tests through fakeCollectiveLog().
#pragma once

#include <string>
#include <vector>

namespace pfgm::fakecuda {

void log(const std::string& line);
// The lines logged since the last call, oldest first.
std::vector<std::string> take_log();
std::string stream_name(const void* stream);
std::string event_name(const void* event);

}  // namespace pfgm::fakecuda

namespace pfgm::gpu {
// The device set_current_device last made current (fake_runtime.cc).
int fake_current_device();
}  // namespace pfgm::gpu

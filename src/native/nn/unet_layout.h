// What EDM's two U-Nets (SongUNet, DhariwalUNet) share in laying out their levels: the names of
// their modules by resolution, the attention test, and the check that every level halves evenly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../errors.h"

namespace pfgm::nn {

// EDM's module names: "32x32_block0".
inline std::string res_name(int64_t res, const std::string& what) {
  return std::to_string(res) + "x" + std::to_string(res) + "_" + what;
}

inline bool contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The number of resolution levels, after checking that img_resolution halves evenly at each.
inline int64_t unet_levels(int64_t img_resolution, const std::vector<int64_t>& channel_mult) {
  if (channel_mult.empty()) fail(code::kArgument, "channel_mult must not be empty");
  const int64_t levels = static_cast<int64_t>(channel_mult.size());
  if (img_resolution % (int64_t{1} << (levels - 1)) != 0) {
    fail(code::kArgument, "img_resolution " + std::to_string(img_resolution) +
                              " must be divisible by 2^(levels - 1) = " +
                              std::to_string(int64_t{1} << (levels - 1)));
  }
  return levels;
}

}  // namespace pfgm::nn

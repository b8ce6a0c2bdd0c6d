# node-gyp build of the CPU addon from the same sources as CMakeLists.txt (which stays the one
# source of truth and also builds the CUDA backend). Kept building by test/native/gyp-build.test.ts.
{
  "targets": [
    {
      "target_name": "pfgm_cpu",
      "sources": ["<!@(node scripts/native-sources.cjs)"],
      "include_dirs": ["<!(node scripts/native-sources.cjs addon-api)", "src/native"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "PFGM_BUILD_FLAVOR=\"cpu\""
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-frtti", "-fopenmp"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"]
    }
  ]
}

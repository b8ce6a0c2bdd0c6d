// The CUDA package's library preloader (docs/dev/release.md, "The CUDA package"). The prebuilt
// CUDA addon names cuDNN and cuBLAS by soname (libcudnn.so.9, libcublas.so.13, ...), and they live
// where the user's machine has them: the toolkit, a distribution package, NVIDIA's Python wheels.
// src/addon/nvidiaLibraries.ts finds them and calls open() on each by absolute path before the
// addon is loaded, so the dynamic loader matches the addon's sonames to the libraries already in
// the process, with no LD_LIBRARY_PATH. This file uses Node-API's C interface and libdl only, is
// linked as C (no libstdc++), and so loads wherever Node does: it must not itself fail to load.
#include <dlfcn.h>
#include <link.h>
#include <node_api.h>

namespace {

napi_value throw_text(napi_env env, const char* text) {
  napi_throw_error(env, "ERR_PFGM_LOAD", text);
  return nullptr;
}

// open(name) -> the path the library was loaded from. `name` is an absolute path or a soname (then
// the loader's own search: LD_LIBRARY_PATH, the ld.so cache, the default folders). RTLD_GLOBAL
// so that cuDNN's own sub-libraries and the addon see its symbols; a failure throws dlerror's text.
napi_value open_library(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  if (napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr) != napi_ok || argc < 1)
    return throw_text(env, "open(name): a library path or soname is required");
  char name[4096];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, arg, name, sizeof name, &length) != napi_ok)
    return throw_text(env, "open(name): name must be a string");
  if (length + 1 >= sizeof name) return throw_text(env, "open(name): the path is too long");
  void* handle = ::dlopen(name, RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return throw_text(env, why != nullptr ? why : "dlopen failed");
  }
  // Kept open for the life of the process: the addon depends on it.
  const char* where = name;
  struct link_map* map = nullptr;
  if (::dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr &&
      map->l_name[0] != '\0')
    where = map->l_name;
  napi_value result;
  napi_create_string_utf8(env, where, NAPI_AUTO_LENGTH, &result);
  return result;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "open", NAPI_AUTO_LENGTH, open_library, nullptr, &fn) == napi_ok)
    napi_set_named_property(env, exports, "open", fn);
  return exports;
}

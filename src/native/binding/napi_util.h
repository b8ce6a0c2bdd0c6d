// Small helpers for the N-API boundary: coded errors, argument reading, Promise-returning work.
#pragma once

#include <napi.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../device.h"
#include "../errors.h"
#include "engine_thread.h"

namespace pfgm::binding {

inline Napi::Error coded_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// Runs a synchronous binding body; engine errors become JS errors with their code.
template <typename F>
Napi::Value guarded(Napi::Env env, F&& body) {
  try {
    gpu::bind_thread();  // the process's GPU is current on this thread (device.h)
    return body();
  } catch (const Error& e) {
    throw coded_error(env, e.code(), e.what());
  } catch (const Napi::Error& e) {
    // A JS value of the wrong type met a node-addon-api conversion: still the caller's mistake.
    if (e.Value().IsObject() && e.Value().As<Napi::Object>().Has("code")) throw;
    throw coded_error(env, code::kArgument, "invalid argument: " + e.Message());
  } catch (const std::bad_alloc&) {
    throw coded_error(env, code::kMemory, "out of memory");
  } catch (const std::exception& e) {
    throw coded_error(env, code::kInternal, e.what());
  }
}

// Work that runs off the JS thread and settles a Promise (docs/dev/architecture.md, "The addon
// boundary": the event loop never blocks).
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise start(Napi::Env env, Work work, Result result) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(result));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      run_work(work_);  // on the engine thread when it is free (engine_thread.h)
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = code::kMemory;
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = code::kInternal;
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(result_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(coded_error(Env(), code_, e.Message()).Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Result result)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        result_(std::move(result)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Result result_;
  const char* code_ = code::kInternal;
};

// Argument readers: the TypeScript layer validates first, these keep the native side safe anyway.
inline Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsObject())
    fail(code::kArgument, "argument " + std::to_string(i) + " must be an object");
  return info[i].As<Napi::Object>();
}

inline double number_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail(code::kArgument, std::string("'") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool has_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

// A shape as a JS array of numbers (parameter, tensor and op-output shapes).
inline Napi::Array shape_array(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t d = 0; d < shape.size(); ++d)
    a.Set(static_cast<uint32_t>(d), static_cast<double>(shape[d]));
  return a;
}

inline std::string string_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) fail(code::kArgument, std::string("'") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace pfgm::binding

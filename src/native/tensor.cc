#include "tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "device.h"
#include "errors.h"

namespace pfgm {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
  }
  return "?";
}

DType parse_dtype(const std::string& name) {
  if (name == "f32") return DType::f32;
  if (name == "f64") return DType::f64;
  if (name == "i32") return DType::i32;
  if (name == "u8") return DType::u8;
  fail(code::kDtype, "unknown dtype '" + name + "': use one of f32, f64, i32, u8");
}

const char* device_name(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  fail(code::kDevice, "unknown device '" + name + "': use 'cpu' or 'cuda'");
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  // Never a zero-byte allocation, so empty tensors still own a valid pointer.
  const size_t rounded = ((bytes + 63) / 64) * 64 + (bytes == 0 ? 64 : 0);
  if (device == Device::cpu) {
    data_ = std::aligned_alloc(64, rounded);  // 64-byte alignment suits AVX-512 and oneDNN
    if (data_ == nullptr)
      fail(code::kMemory, "could not allocate " + std::to_string(bytes) + " bytes on the CPU");
  } else {
    data_ = gpu::allocate(rounded);
  }
}

Storage::~Storage() {
  if (device_ == Device::cpu)
    std::free(data_);
  else
    gpu::release(data_);
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::shared_ptr<Tensor> make_tensor(DType dtype, Device device, std::vector<int64_t> shape) {
  auto t = std::make_shared<Tensor>();
  t->dtype = dtype;
  t->device = device;
  t->shape = std::move(shape);
  // Overflowing sizes would allocate too little and write past it: refuse them up front.
  int64_t bytes = static_cast<int64_t>(dtype_size(dtype));
  for (int64_t d : t->shape) {
    if (d < 0) fail(code::kShape, "negative dimension in shape " + shape_string(t->shape));
    if (__builtin_mul_overflow(bytes, d, &bytes) || bytes > (int64_t{1} << 50))
      fail(code::kMemory,
           "a tensor of shape " + shape_string(t->shape) + " does not fit in memory");
  }
  t->storage = std::make_shared<Storage>(t->nbytes(), device);
  return t;
}

std::shared_ptr<Tensor> tensor_from_host(const void* src, DType dtype, Device device,
                                         std::vector<int64_t> shape) {
  auto t = make_tensor(dtype, device, std::move(shape));
  if (t->nbytes() == 0) return t;
  if (device == Device::cpu)
    std::memcpy(t->storage->data(), src, t->nbytes());
  else
    gpu::copy_to_device(t->storage->data(), src, t->nbytes());
  return t;
}

void copy_to_host(const Tensor& t, void* dst) {
  if (t.nbytes() == 0) return;
  if (t.device == Device::cpu)
    std::memcpy(dst, t.storage->data(), t.nbytes());
  else
    gpu::copy_to_host(dst, t.storage->data(), t.nbytes());
}

ParamBuffer::ParamBuffer(const void* host, size_t bytes, Device device) {
  if (host == nullptr) return;
  storage_ = std::make_shared<Storage>(bytes, device);
  if (device == Device::cpu)
    std::memcpy(storage_->data(), host, bytes);
  else
    gpu::copy_to_device(storage_->data(), host, bytes);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace pfgm

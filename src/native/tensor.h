// Device-resident tensors: a dtype, a shape and shared storage on one device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pfgm {

enum class DType { f32, f64, i32, u8 };
enum class Device { cpu, cuda };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
DType parse_dtype(const std::string& name);
const char* device_name(Device device);
Device parse_device(const std::string& name);

// One allocation on one device, freed when the last tensor or in-flight operation lets go.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

struct Tensor {
  DType dtype;
  Device device;
  std::vector<int64_t> shape;
  std::shared_ptr<Storage> storage;

  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename T>
  T* data() const {
    return static_cast<T*>(storage->data());
  }
};

std::shared_ptr<Tensor> make_tensor(DType dtype, Device device, std::vector<int64_t> shape);
// Copies `bytes` of host memory into a new tensor on `device`.
std::shared_ptr<Tensor> tensor_from_host(const void* src, DType dtype, Device device,
                                         std::vector<int64_t> shape);
void copy_to_host(const Tensor& t, void* dst);

// A small array of parameters (per-sample sigma, seeds) placed where a kernel can read it.
class ParamBuffer {
 public:
  ParamBuffer(const void* host, size_t bytes, Device device);
  const void* data() const { return storage_ ? storage_->data() : nullptr; }

 private:
  std::shared_ptr<Storage> storage_;
};

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace pfgm

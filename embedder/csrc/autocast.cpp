// libtorch's autocast switches for any device and dtype, as `torch.autocast(device_type, dtype)`
// uses them (torch/amp/autocast_mode.py, __enter__/__exit__). tch 0.24 only wraps CUDA autocast
// with its default dtype (fp16), so swan's training precisions call these instead.
//
// Every function catches C++ exceptions (none may cross into Rust) and returns 0 on success,
// -1 on failure with the message copied into `err` (NUL-terminated, truncated to `err_len`).
// Device codes: 0 CPU, 1 CUDA. Dtype codes: 0 float16, 1 bfloat16. The previous dtype is
// handed back as libtorch's own ScalarType number, opaque to Rust, only to be restored.

#include <ATen/autocast_mode.h>

#include <cstring>
#include <stdexcept>
#include <exception>

namespace {

void copy_message(const char *msg, char *err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  std::strncpy(err, msg, err_len - 1);
  err[err_len - 1] = '\0';
}

bool device_of(int code, c10::DeviceType *out) {
  switch (code) {
    case 0: *out = c10::DeviceType::CPU; return true;
    case 1: *out = c10::DeviceType::CUDA; return true;
    default: return false;
  }
}

bool dtype_of(int code, at::ScalarType *out) {
  switch (code) {
    case 0: *out = at::kHalf; return true;
    case 1: *out = at::kBFloat16; return true;
    default: return false;
  }
}

template <typename F>
int guarded(char *err, size_t err_len, F f) {
  try {
    f();
    return 0;
  } catch (const std::exception &e) {
    copy_message(e.what(), err, err_len);
  } catch (...) {
    copy_message("unknown C++ exception", err, err_len);
  }
  return -1;
}

}  // namespace

extern "C" {

// What `swan_autocast_enter` replaced, for `swan_autocast_exit` to put back.
struct swan_autocast_prev {
  int enabled;
  int dtype;  // at::ScalarType as an integer
};

int swan_autocast_enter(int device, int dtype, swan_autocast_prev *prev, char *err, size_t err_len) {
  return guarded(err, err_len, [&] {
    c10::DeviceType dev;
    at::ScalarType ty;
    if (!device_of(device, &dev)) throw std::invalid_argument("autocast: unknown device code");
    if (!dtype_of(dtype, &ty)) throw std::invalid_argument("autocast: unknown dtype code");
    if (!at::autocast::is_autocast_available(dev)) throw std::invalid_argument("autocast is not available on this device");
    prev->enabled = at::autocast::is_autocast_enabled(dev) ? 1 : 0;
    prev->dtype = static_cast<int>(at::autocast::get_autocast_dtype(dev));
    at::autocast::set_autocast_enabled(dev, true);
    at::autocast::set_autocast_dtype(dev, ty);
    at::autocast::increment_nesting();
  });
}

int swan_autocast_exit(int device, const swan_autocast_prev *prev, char *err, size_t err_len) {
  return guarded(err, err_len, [&] {
    c10::DeviceType dev;
    if (!device_of(device, &dev)) throw std::invalid_argument("autocast: unknown device code");
    // The cache of casted weights lives as long as the outermost autocast region.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(dev, prev->enabled != 0);
    at::autocast::set_autocast_dtype(dev, static_cast<at::ScalarType>(prev->dtype));
  });
}

// *enabled: 0 or 1; *dtype: 0 float16, 1 bfloat16, 2 float32, 3 anything else.
int swan_autocast_state(int device, int *enabled, int *dtype, char *err, size_t err_len) {
  return guarded(err, err_len, [&] {
    c10::DeviceType dev;
    if (!device_of(device, &dev)) throw std::invalid_argument("autocast: unknown device code");
    *enabled = at::autocast::is_autocast_enabled(dev) ? 1 : 0;
    switch (at::autocast::get_autocast_dtype(dev)) {
      case at::kHalf: *dtype = 0; break;
      case at::kBFloat16: *dtype = 1; break;
      case at::kFloat: *dtype = 2; break;
      default: *dtype = 3;
    }
  });
}

}  // extern "C"

// Sinkhorn matrix scaling on an NVIDIA GPU (kernel form single and batched, log-domain, stabilized).
// Same arguments and semantics as csrc/cpu/sinkhorn_cpu.h, plus `device`:
//   device < 0   M, a, B/b, the scalings and the plan are host arrays: the call copies the inputs to
//                device 0, iterates there and copies the results back;
//   device >= 0  they are arrays in the memory of that CUDA device (e.g. torch or CuPy arrays), used
//                in place: the scalings/potentials are updated there and the plan written there.
// values, info and trace are host memory in both cases. Declared without any CUDA header so that the
// pybind11 module (csrc/bind_cuda.cpp) compiles with the host compiler.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/sinkhorn_types.h"

namespace otkit {

// Number of CUDA devices the runtime sees (0 when there is no driver or no device).
int cuda_device_count();
// "name (sm_XY, N SMs, G GiB)" of device `dev`.
std::string cuda_device_description(int dev);
// CUDA runtime and driver versions (e.g. 13000) as the runtime reports them; 0 when unknown.
int cuda_runtime_version();
int cuda_driver_version();

template <typename T>
void sinkhorn_knopp_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* B, int64_t N, T reg,
                         const SinkhornOptions& opt, T* U, T* V, T* values, T* plan, SinkhornInfo* info,
                         std::vector<double>* trace, int device = -1);

template <typename T>
void sinkhorn_log_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt,
                       T* f, T* g, T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace, int device = -1);

template <typename T>
void sinkhorn_stabilized_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                              const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan, SinkhornInfo* info,
                              std::vector<double>* trace, int device = -1);

}  // namespace otkit

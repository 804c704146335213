// Sinkhorn matrix scaling on an NVIDIA GPU (kernel form single and batched, log-domain, stabilized).
// Same signatures and semantics as csrc/cpu/sinkhorn_cpu.h: host pointers in and out; each call copies
// its inputs to the current device, iterates there and copies the results back. Declared without any
// CUDA header so that the pybind11 module (csrc/bind_cuda.cpp) compiles with the host compiler.
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
                         std::vector<double>* trace);

template <typename T>
void sinkhorn_log_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg, const SinkhornOptions& opt,
                       T* f, T* g, T* value, T* plan, SinkhornInfo* info, std::vector<double>* trace);

template <typename T>
void sinkhorn_stabilized_cuda(const T* M, int64_t n, int64_t m, const T* a, const T* b, T reg,
                              const SinkhornOptions& opt, T* alpha, T* beta, T* value, T* plan, SinkhornInfo* info,
                              std::vector<double>* trace);

}  // namespace otkit

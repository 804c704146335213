// Helpers shared by the pybind11 binding files of otkit._ext.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace py = pybind11;

namespace otkit {

// Checks (defensive: the Python layer has already converted) that `x` is a C-contiguous
// array of dtype T with `ndim` dimensions, and returns a typed view without copying.
template <typename T>
py::array_t<T, py::array::c_style> as_carray(const py::array& x, const char* name, int ndim) {
    if (!py::isinstance<py::array_t<T>>(x) || !(x.flags() & py::array::c_style))
        throw py::type_error(std::string(name) + ": expected a C-contiguous " +
                             (sizeof(T) == 8 ? "float64" : "float32") + " array");
    if (x.ndim() != ndim)
        throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got " +
                              std::to_string(x.ndim()));
    return py::array_t<T, py::array::c_style>::ensure(x);
}

// num_threads of a kernel call: 0 (otkit's default) or a positive count (capped at the processors).
inline int check_num_threads(int num_threads) {
    if (num_threads < 0)
        throw py::value_error("num_threads must be >= 0 (0: otkit's default), got " + std::to_string(num_threads));
    return num_threads;
}

void bind_sinkhorn(py::module_& m);
void bind_emd(py::module_& m);
void bind_semidual(py::module_& m);
void bind_barycenter(py::module_& m);

}  // namespace otkit

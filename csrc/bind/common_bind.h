// Helpers shared by the pybind11 binding files of otkit._ext.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "common/interrupt.h"

namespace py = pybind11;

namespace otkit {

// The interrupt hook of the kernels (common/interrupt.h): in the main Python thread (the only one where
// Python runs signal handlers), take the GIL and run the pending handlers; true when one raised (Ctrl-C:
// KeyboardInterrupt, then the pending Python error). Other threads never wait for the GIL here.
namespace bind_detail {
inline unsigned long& main_thread_ident() {
    static unsigned long ident = 0;
    return ident;
}
inline bool python_interrupt_hook() {
    if (PyThread_get_thread_ident() != main_thread_ident()) return false;
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
}
}  // namespace bind_detail

// Called once by each module's init (with the GIL).
inline void install_interrupt_hook() {
    bind_detail::main_thread_ident() =
        py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    set_interrupt_hook(&bind_detail::python_interrupt_hook);
}

// Runs kernel() without the GIL. A kernel stopped by a signal (it threw Interrupted) raises the Python
// error the signal handler set (KeyboardInterrupt for Ctrl-C) once the GIL is back.
template <class F>
auto run_without_gil(F&& kernel) -> decltype(kernel()) {
    {
        py::gil_scoped_release release;
        try {
            return kernel();
        } catch (const Interrupted&) {
        }
    }
    if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
}

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
void bind_multiscale(py::module_& m);

}  // namespace otkit

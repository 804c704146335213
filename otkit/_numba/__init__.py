"""Numba fallbacks of otkit's C++ kernels: one module per kernel family, same names and results."""

"""Numba fallbacks of otkit's C++ kernels, one module per kernel family (same signatures).

Importing any family installs :mod:`otkit._numba._notice`: the first compilation of a family in a process
(a miss of Numba's on-disk cache; every kernel has ``cache=True``) prints one line on stderr,
``otkit: compiling Numba kernels for <family> (one time, about N s; cached for later runs)``.
``OTKIT_NUMBA_NOTICE=0`` turns it off.

Importing it also checks that Numba's on-disk cache of the package was written for the current sources of
all its modules (:mod:`otkit._numba._cache`), and drops it otherwise.
"""
from . import _cache, _notice

_cache.ensure_consistent()
_notice.install()

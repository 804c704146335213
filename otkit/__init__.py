"""otkit: numerical optimal transport with compiled kernels.

POT-compatible calls (``import otkit as ot``): ``sinkhorn``, ``sinkhorn2``, ``dist``, ``unif``, ...
"""
__version__ = "0.1.0"

from ._backend import available_backends, default_backend  # noqa: E402
from ._config import show_config  # noqa: E402
from .utils import dist, unif  # noqa: E402
from .metric import param_w2  # noqa: E402  (NumPy only; torch is imported lazily)

__all__ = [
    "__version__",
    "available_backends",
    "default_backend",
    "show_config",
    "dist",
    "unif",
    "param_w2",
]

import os
import tempfile

import numpy as np
import pytest

import otkit
from otkit import _backend
from otkit._config import config as _otkit_config, format_config

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_report_header(config):  # noqa: ARG001 - pytest passes its config
    return format_config(_otkit_config()).splitlines()


# Child Python processes of the tests import the otkit this process imported (the installed one in CI,
# where the source tree has no compiled modules), from a neutral folder: `python -c` and `-m` put
# their current folder first on sys.path, and the repository root would shadow the installed package.
OTKIT_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(otkit.__file__)))
CHILD_CWD = tempfile.gettempdir()


def child_env(**extra):
    """os.environ plus `extra`, with the folder of the imported otkit first on PYTHONPATH."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = OTKIT_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


CPU_BACKENDS = ["cpp", "numba"]
ALL_BACKENDS = CPU_BACKENDS + ["cuda"]  # for the kernel families in otkit._backend.CUDA_FAMILIES


def require_backend(name):
    """Skip the test when backend `name` cannot run here (cuda: no GPU or not built); CI requires cpp."""
    if not _backend.is_available(name):
        if name == "cpp" and os.environ.get("OTKIT_REQUIRE_EXT", "0") not in ("", "0"):
            pytest.fail("OTKIT_REQUIRE_EXT=1 but the C++ extension did not load")
        pytest.skip(f"backend {name} not available" + (" (no CUDA device)" if name == "cuda" else ""))
    return name


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    """Every CPU backend; the ones that are not built here are skipped."""
    return require_backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(0)

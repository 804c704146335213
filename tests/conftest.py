import os

import numpy as np
import pytest

import otkit
from otkit import _backend
from otkit._config import config as _otkit_config, format_config

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_report_header(config):  # noqa: ARG001 - pytest passes its config
    return format_config(_otkit_config()).splitlines()


BACKENDS = [b for b in _backend.BACKENDS]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Every CPU backend; the ones that are not built here are skipped (CI requires cpp)."""
    name = request.param
    if not _backend.is_available(name):
        if name == "cpp" and os.environ.get("OTKIT_REQUIRE_EXT", "0") not in ("", "0"):
            pytest.fail("OTKIT_REQUIRE_EXT=1 but the C++ extension did not load")
        pytest.skip(f"backend {name} not available")
    return name


@pytest.fixture
def rng():
    return np.random.default_rng(0)

"""The built extension on older x86-64 CPUs, emulated by qemu-user: it must import, pick the module
for the emulated CPU's level, and give this machine's answers (never "Illegal instruction").

Skips where ``qemu-x86_64`` is missing (Debian: ``apt-get install qemu-user``). The same check for a
wheel built by ``pip wheel .``: ``python benchmarks/check_portable.py --wheel``.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import otkit
from otkit import _backend

from conftest import require_backend

QEMU = shutil.which("qemu-x86_64")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(otkit.__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

pytestmark = [
    pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 not installed (apt-get install qemu-user)"),
    pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 only"),
]


@pytest.mark.parametrize("cpu,module", [("Haswell-v4", "otkit._ext_x86_64_v3"), ("Westmere", "otkit._ext")])
def test_runs_on_an_older_cpu(cpu, module):
    require_backend("cpp")
    import check_portable

    here = check_portable.probe(sys.executable, None, os.path.dirname(os.path.dirname(otkit.__file__)))
    got = check_portable.probe(sys.executable, (QEMU, cpu), os.path.dirname(os.path.dirname(otkit.__file__)))
    assert got["module"] == module, got
    for key in check_portable.VALUES:
        np.testing.assert_allclose(got[key], here[key], rtol=1e-12, err_msg=f"{key} on {cpu}")

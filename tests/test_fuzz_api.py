"""The public-API fuzzer (tests/fuzz_api.py) in its quick profile: a clean error naming the argument, a
finite answer equal to POT / scipy where the input only changed its layout, or a warning -- never a crash,
a hang, a silent NaN or a wrong value. The long profile: ``python tests/fuzz_api.py --cases 100000``."""
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

sys.path.insert(0, os.path.dirname(__file__))
import fuzz_api  # noqa: E402

pytest.importorskip("ot")

SPECS = fuzz_api._specs()


def test_cases_in_worker_processes():
    """2,000 cases (every public function, seeded) in 2 worker processes, so that a crash or a hang is
    counted instead of killing the test run."""
    res = fuzz_api.run_cases(2000, seed=20260, jobs=2, timeout=60.0)
    assert res["failures"] == [], "\n".join(res["failures"][:20])
    counts = res["counts"]
    assert counts["crash"] == counts["hang"] == counts["failure"] == 0, counts
    assert counts["error"] > 200 and counts["answer"] > 200, counts  # both kinds of outcome were exercised


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hst.sampled_from(sorted(SPECS)), hst.data())
def test_hypothesis_cases(name, data):
    """The same cases drawn by hypothesis (which shrinks a failure to a small problem)."""
    outcome, detail = fuzz_api.run_case(name, fuzz_api.HypothesisDraw(data), SPECS)
    assert outcome != "failure", detail


def test_outcome_rules():
    """The judge itself: an error that does not name the argument, and a silent NaN, are failures."""
    class Draw(fuzz_api.RngDraw):
        pass

    spec = fuzz_api.Spec("t", lambda kw: (_ for _ in ()).throw(ValueError("bad input")),
                         lambda draw: dict(x=1.0), dict(x="scalar"))
    results = {fuzz_api.run_case("t", Draw(s), {"t": spec})[0] for s in range(20)}
    assert results == {"failure"}
    spec = fuzz_api.Spec("t", lambda kw: float("nan"), lambda draw: dict(x=1.0), dict(x="scalar"))
    assert {fuzz_api.run_case("t", Draw(s), {"t": spec})[0] for s in range(20)} == {"failure"}
    spec = fuzz_api.Spec("t", lambda kw: (_ for _ in ()).throw(ValueError(f"x is {kw['x']!r}")),
                         lambda draw: dict(x=1.0), dict(x="scalar"))
    assert "error" in {fuzz_api.run_case("t", Draw(s), {"t": spec})[0] for s in range(20)}

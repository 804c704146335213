"""W_p between point clouds (network simplex) and 1-D measures (quantile functions)."""
import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import otkit


def test_wasserstein_1d_vs_scipy_p1():
    rng = np.random.default_rng(0)
    for n, m in [(1, 1), (5, 8), (100, 37)]:
        u, v = rng.normal(size=n), rng.normal(1.0, 2.0, size=m)
        wu, wv = rng.random(n), rng.random(m)
        np.testing.assert_allclose(otkit.wasserstein_1d(u, v, wu, wv, p=1),
                                   stats.wasserstein_distance(u, v, wu, wv), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(otkit.wasserstein_1d(u, v), stats.wasserstein_distance(u, v), rtol=1e-12)


def test_wasserstein_1d_p2_closed_form():
    # N(m1, s1^2) and N(m2, s2^2) discretized at the same quantile levels z_k: the monotone
    # coupling pairs the k-th points, W_2^2 = mean(((m1 - m2) + (s1 - s2) z_k)^2)
    n = 1000
    z = stats.norm.ppf((np.arange(n) + 0.5) / n)
    m1, s1, m2, s2 = 0.3, 1.2, -1.0, 0.5
    rng = np.random.default_rng(1)
    u = rng.permutation(m1 + s1 * z)
    v = rng.permutation(m2 + s2 * z)
    exact = np.mean(((m1 - m2) + (s1 - s2) * z) ** 2)
    np.testing.assert_allclose(otkit.wasserstein_1d(u, v, p=2), exact, rtol=1e-12)
    # ... which tends to the Gaussian closed form (m1 - m2)^2 + (s1 - s2)^2
    np.testing.assert_allclose(otkit.wasserstein_1d(u, v, p=2), (m1 - m2) ** 2 + (s1 - s2) ** 2, rtol=5e-3)
    # and POT agrees (it also returns W_p^p)
    np.testing.assert_allclose(otkit.wasserstein_1d(u, v, p=2), ot.wasserstein_1d(u, v, p=2), rtol=1e-12)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cityblock"])
def test_emd_1d_agrees_with_network_simplex(backend, metric):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=23), rng.normal(size=31)
    a, b = rng.dirichlet(np.ones(23)), rng.dirichlet(np.ones(31))
    G, lg = otkit.emd_1d(x, y, a, b, metric=metric, log=True, backend=backend)
    np.testing.assert_allclose(G.sum(1), a, atol=1e-12)
    np.testing.assert_allclose(G.sum(0), b, atol=1e-12)
    assert np.count_nonzero(G) <= 23 + 31 - 1
    M = otkit.dist(x[:, None], y[:, None], metric=metric)
    np.testing.assert_allclose(lg["cost"], otkit.emd2(a, b, M, backend=backend), rtol=1e-9)
    np.testing.assert_allclose(np.sum(G * M), lg["cost"], rtol=1e-12)
    np.testing.assert_allclose(lg["cost"], ot.emd2_1d(x, y, a, b, metric=metric), rtol=1e-9)
    S = otkit.emd_1d(x, y, a, b, metric=metric, dense=False, backend=backend)
    np.testing.assert_allclose(S.toarray(), G, atol=0)
    if metric == "euclidean":
        np.testing.assert_allclose(lg["cost"], otkit.wasserstein_1d(x, y, a, b, p=1), rtol=1e-12)


def test_wasserstein_point_clouds_vs_pot(backend):
    rng = np.random.default_rng(3)
    xa, xb = rng.random((30, 3)), rng.random((25, 3)) + 0.5
    a, b = rng.dirichlet(np.ones(30)), rng.dirichlet(np.ones(25))
    for p in (1, 2, 3):
        ref = ot.emd2(a, b, ot.dist(xa, xb, metric="euclidean") ** p) ** (1 / p)
        np.testing.assert_allclose(otkit.wasserstein(xa, xb, a, b, p=p, backend=backend), ref, rtol=1e-9)
    # 1-D clouds: the network simplex and the quantile formula agree
    x, y = rng.normal(size=40), rng.normal(size=35)
    np.testing.assert_allclose(otkit.wasserstein(x, y, p=2, backend=backend) ** 2,
                               otkit.wasserstein_1d(x, y, p=2), rtol=1e-9)
    np.testing.assert_allclose(otkit.wasserstein(x, y, p=1, backend=backend), otkit.wasserstein_1d(x, y, p=1),
                               rtol=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="p must be"):
        otkit.wasserstein([[0.0]], [[1.0]], p=0)
    with pytest.raises(ValueError, match="p must be"):
        otkit.wasserstein_1d([0.0], [1.0], p=-1)
    with pytest.raises(ValueError, match="x_a is empty"):
        otkit.wasserstein(np.zeros((0, 2)), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="same dimension"):
        otkit.wasserstein(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="u_weights has negative"):
        otkit.wasserstein_1d([0.0, 1.0], [1.0], u_weights=[-1.0, 2.0])
    with pytest.raises(ValueError, match="v_values has non-finite"):
        otkit.wasserstein_1d([0.0], [np.nan])
    with pytest.raises(ValueError, match="b has length"):
        otkit.emd_1d([0.0, 1.0], [1.0], b=[0.5, 0.5])
    with pytest.raises(ValueError, match="same total mass"):
        otkit.emd_1d([0.0, 1.0], [1.0, 2.0], a=[1.0, 1.0], b=[0.5, 0.5])
    with pytest.raises(ValueError, match="metric"):
        otkit.emd_1d([0.0, 1.0], [1.0, 2.0], metric="cosine")


_cloud = st.integers(min_value=1, max_value=7).flatmap(
    lambda n: st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=n, max_size=n))


@settings(max_examples=30, deadline=None)
@given(_cloud, _cloud, _cloud, st.sampled_from([1, 2]))
def test_wp_is_a_metric(x, y, z, p):
    x, y, z = (np.array(t, dtype=float) for t in (x, y, z))
    wxy = otkit.wasserstein(x, y, p=p)
    wyx = otkit.wasserstein(y, x, p=p)
    np.testing.assert_allclose(wxy, wyx, rtol=1e-9, atol=1e-9)  # symmetric
    assert otkit.wasserstein(x, x, p=p) <= 1e-9  # zero on identical measures
    wxz, wzy = otkit.wasserstein(x, z, p=p), otkit.wasserstein(z, y, p=p)
    assert wxy <= wxz + wzy + 1e-9  # triangle inequality


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=12), st.lists(st.floats(-10, 10), min_size=1, max_size=12))
def test_wasserstein_1d_symmetric_and_matches_scipy(u, v):
    np.testing.assert_allclose(otkit.wasserstein_1d(u, v, p=2), otkit.wasserstein_1d(v, u, p=2), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(otkit.wasserstein_1d(u, v), stats.wasserstein_distance(u, v), rtol=1e-9, atol=1e-9)
    assert otkit.wasserstein_1d(u, u, p=2) == 0.0

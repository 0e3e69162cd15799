"""Measurement operators: adjointness, matrix views, phase-retrieval symmetry, validation."""
import numpy as np
import pytest

from layerinv.ops import GaussianCS, Identity, Inpainting, LinearOperator, PhaseRetrieval

SEEDS = [0, 1, 2]
ADJOINT_TOL = 1e-12  # <A x, v> vs <x, A^T v>: two float64 dot products of ~600 terms


def _linear_ops(seed):
    rng = np.random.default_rng(seed)
    return [Identity(40), Inpainting.random(40, 0.6, rng), Inpainting.block((5, 8), 1, 2, 3, 4),
            GaussianCS(15, 40, rng), LinearOperator(rng.standard_normal((7, 40)))]


@pytest.mark.parametrize("seed", SEEDS)
def test_adjointness(seed):
    rng = np.random.default_rng(100 + seed)
    for op in _linear_ops(seed):
        x, v = rng.standard_normal(op.n), rng.standard_normal(op.m)
        lhs, rhs = op.A(x) @ v, x @ op.A_adjoint(v)
        assert abs(lhs - rhs) <= ADJOINT_TOL * (abs(lhs) + np.linalg.norm(x) * np.linalg.norm(v)), op


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_view_and_batches(seed):
    rng = np.random.default_rng(200 + seed)
    for op in _linear_ops(seed):
        M = op.to_matrix()
        assert M.shape == (op.m, op.n) == op.out_shape + (op.n,)
        X = rng.standard_normal((3, op.n))
        np.testing.assert_allclose(op(X), X @ M.T, rtol=0, atol=1e-12)
        Y = rng.standard_normal((3, op.m))
        np.testing.assert_allclose(op.A_adjoint(Y), Y @ M, rtol=0, atol=1e-12)
        M[0, 0] += 1.0  # to_matrix is a copy
        assert op.to_matrix()[0, 0] != M[0, 0]


def test_gaussian_cs_scale_and_reproducibility():
    op = GaussianCS(200, 600, rng=3)
    assert abs(op.matrix.var() * 200 - 1.0) < 0.02  # 120k entries of variance 1/m: sample error ~0.4%
    np.testing.assert_array_equal(op.matrix, GaussianCS(200, 600, rng=3).matrix)
    assert not np.array_equal(op.matrix, GaussianCS(200, 600, rng=4).matrix)
    assert not op.matrix.flags.writeable


def test_inpainting_random_keeps_every_pixel_uniformly():
    """Each pixel (the first and the last included) is kept with probability keep_ratio: over 2000
    masks of 10 pixels at ratio 0.5 every frequency lies within 0.5 +- 0.1 (9 standard deviations).
    Kills "never keep the last pixel" and any other biased choice."""
    rng = np.random.default_rng(0)
    counts = np.zeros(10)
    for _ in range(2000):
        op = Inpainting.random(10, 0.5, rng)
        assert op.m == 5
        counts += op.mask
    assert np.all(np.abs(counts / 2000 - 0.5) < 0.1), counts
    assert Inpainting.random(7, 1.0, 3).mask.all()  # ratio 1 keeps every pixel


@pytest.mark.parametrize("seed", SEEDS)
def test_inpainting_masks(seed):
    op = Inpainting.random(600, 0.9, rng=seed)
    assert op.m == 540 and op.rows.shape == (540,) and np.all(np.diff(op.rows) > 0)
    x = np.random.default_rng(seed).standard_normal(600)
    np.testing.assert_array_equal(op(x), x[op.mask])
    np.testing.assert_array_equal(Inpainting.random(600, 0.9, rng=seed).rows, op.rows)
    blk = Inpainting.block((28, 28), top=10, left=5, height=8, width=6)
    assert blk.m == 784 - 48 and not blk.mask.reshape(28, 28)[10:18, 5:11].any()
    kept = Inpainting.block((28, 28), top=10, left=5, height=8, width=6, keep_block=True)
    assert kept.m == 48 and set(kept.rows) | set(blk.rows) == set(range(784))
    img = np.zeros((4, 5), dtype=bool)
    img[1, 2] = img[3, 4] = True
    np.testing.assert_array_equal(Inpainting(img).rows, [7, 19])  # C order, like image.reshape(-1)


@pytest.mark.parametrize("seed", SEEDS)
def test_phase_retrieval_sign_invariance(seed):
    rng = np.random.default_rng(seed)
    op = PhaseRetrieval(30, 50, rng)
    X = rng.standard_normal((4, 50))
    np.testing.assert_array_equal(op(X), op(-X))
    np.testing.assert_allclose(op(X), np.abs(X @ op.B.matrix.T), rtol=0, atol=1e-12)
    assert np.all(op(X) >= 0) and not op.linear and not hasattr(op, "A_adjoint")
    wrapped = PhaseRetrieval.from_linear(LinearOperator(op.B.matrix))
    np.testing.assert_array_equal(wrapped(X), op(X))


@pytest.mark.parametrize("call, exc, needle", [
    (lambda: Inpainting(np.ones(5, dtype=int)), TypeError, "mask"),
    (lambda: Inpainting(np.zeros(5, dtype=bool)), ValueError, "mask"),
    (lambda: Inpainting(np.zeros(0, dtype=bool)), ValueError, "mask"),
    (lambda: Inpainting.random(10, 0.0, 0), ValueError, "keep_ratio"),
    (lambda: Inpainting.random(10, 1.5, 0), ValueError, "keep_ratio"),
    (lambda: Inpainting.random(10, True, 0), ValueError, "keep_ratio"),
    (lambda: Inpainting.random(10, 0.5, None), TypeError, "rng"),
    (lambda: Inpainting.random(0, 0.5, 0), ValueError, "n"),
    (lambda: Inpainting.block((5, 5), 3, 0, 3, 1), ValueError, "block"),
    (lambda: Inpainting.block((5, 5), -1, 0, 1, 1), ValueError, "top"),
    (lambda: GaussianCS(0, 10, 0), ValueError, "m must"),
    (lambda: GaussianCS(5, 2.5, 0), ValueError, "n must"),
    (lambda: GaussianCS(5, 10, None), TypeError, "rng"),
    (lambda: GaussianCS(5, 10, 0)(np.ones(9)), ValueError, "x must"),
    (lambda: GaussianCS(5, 10, 0)(np.ones((2, 2, 10))), ValueError, "x must"),
    (lambda: GaussianCS(5, 10, 0)(np.full(10, np.nan)), ValueError, "x must be finite"),
    (lambda: GaussianCS(5, 10, 0).A_adjoint(np.ones(10)), ValueError, "y must"),
    (lambda: Identity(4)(np.array(["a"] * 4)), TypeError, "x must"),
    (lambda: LinearOperator(np.ones(3)), ValueError, "matrix"),
    (lambda: PhaseRetrieval(5, 0, 0), ValueError, "n must"),
    (lambda: PhaseRetrieval.from_linear(PhaseRetrieval(5, 4, 0)), TypeError, "B must"),
])
def test_validation_names_the_argument(call, exc, needle):
    with pytest.raises(exc, match=needle):
        call()

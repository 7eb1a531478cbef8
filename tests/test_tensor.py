"""Tests of mlmath.tensor against numpy's own einsum, matmul, kron and broadcast_shapes."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmath.tensor import (
    batched_matmul,
    broadcast_shape,
    contract,
    einsum_subscripts,
    explain_broadcast,
    kron_vec_product,
    outer,
)

RTOL = 1e-12
ATOL = 1e-12


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240602)


def _vec(M: np.ndarray) -> np.ndarray:
    """Column stacking, written out independently of the package."""
    return np.concatenate([M[:, j] for j in range(M.shape[1])])


# ---------------------------------------------------------------------------
# contract / einsum_subscripts
# ---------------------------------------------------------------------------

CONTRACTIONS = [
    # (named spec, einsum subscripts, operand shapes)
    ("batch in, out in -> batch out", "ab,cb->ac", [(5, 3), (4, 3)]),
    ("i k, k j -> i j", "ab,bc->ac", [(2, 3), (3, 4)]),
    ("i, j -> i j", "a,b->ab", [(3,), (4,)]),
    ("i, i ->", "a,a->", [(6,), (6,)]),
    ("i i ->", "aa->", [(4, 4)]),
    ("i j -> j i", "ab->ba", [(2, 5)]),
    ("i j -> i", "ab->a", [(3, 2)]),
    ("b i k, b k j -> b i j", "abc,acd->abd", [(3, 2, 4), (3, 4, 5)]),
    ("i j, j k, k l -> i l", "ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("batch out, batch in -> out in", "ab,ac->bc", [(7, 2), (7, 3)]),
    ("batch time feat, out feat -> batch time out", "abc,dc->abd", [(2, 5, 3), (4, 3)]),
    (", i -> i", ",a->a", [(), (3,)]),
]


@pytest.mark.parametrize(("spec", "subscripts", "shapes"), CONTRACTIONS)
def test_contract_matches_einsum(rng, spec, subscripts, shapes):
    operands = [rng.standard_normal(s) for s in shapes]
    assert einsum_subscripts(spec) == subscripts
    got = contract(spec, *operands)
    want = np.einsum(subscripts, *operands)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("batch", "n_in", "n_out"), [(1, 1, 1), (8, 3, 2), (32, 20, 64)])
def test_contract_affine_equals_matmul(rng, batch, n_in, n_out):
    X = rng.standard_normal((batch, n_in))
    W = rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out)
    Z = contract("batch in, out in -> batch out", X, W) + b
    np.testing.assert_allclose(Z, X @ W.T + b, rtol=1e-10, atol=1e-12)
    dZ = rng.standard_normal((batch, n_out))
    dW = contract("batch out, batch in -> out in", dZ, X)
    np.testing.assert_allclose(dW, dZ.T @ X, rtol=1e-10, atol=1e-12)


def test_contract_keeps_float32(rng):
    X = rng.standard_normal((4, 3)).astype(np.float32)
    W = rng.standard_normal((2, 3)).astype(np.float32)
    assert contract("b i, o i -> b o", X, W).dtype == np.float32
    assert contract("b i, o i -> b o", X, W.astype(np.float64)).dtype == np.float64


def test_contract_accepts_lists_and_ints():
    got = contract("i j, j -> i", [[1, 2], [3, 4]], [1, 1])
    np.testing.assert_array_equal(got, [3.0, 7.0])
    assert got.dtype == np.float64


def test_contract_names_axis_operands_and_shapes_on_mismatch(rng):
    X = rng.standard_normal((32, 784))
    W = rng.standard_normal((256, 785))
    msg = (
        r"axis 'in' has size 784 in X \(shape \(32, 784\)\) but size 785 in W "
        r"\(shape \(256, 785\)\)"
    )
    with pytest.raises(ValueError, match=msg):
        contract("batch in, out in -> batch out", X, W, names=("X", "W"))


def test_contract_default_operand_names(rng):
    with pytest.raises(ValueError, match=r"size 3 in operand 1 \(shape \(2, 3\)\) but size 2 in operand 2"):
        contract("i k, k j -> i j", rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))


def test_contract_mismatch_found_in_third_operand(rng):
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match=r"axis 'k' has size 4 in B \(shape \(3, 4\)\) but size 5 in C"):
        contract("i j, j k, k l -> i l", a, b, c, names=("A", "B", "C"))


def test_contract_repeated_axis_in_one_operand(rng):
    with pytest.raises(ValueError, match=r"axis 'i' has twice in A \(shape \(2, 3\)\) with sizes 2 and 3"):
        contract("i i ->", rng.standard_normal((2, 3)), names=("A",))


@pytest.mark.parametrize(
    ("spec", "shapes", "error", "match"),
    [
        ("i j, j k", [(2, 3), (3, 4)], ValueError, r"exactly one '->'"),
        ("i -> j -> k", [(2,)], ValueError, r"exactly one '->'"),
        ("i j, j k -> i k", [(2, 3)], ValueError, r"names 2 operand\(s\) before '->' but 1 were given"),
        ("i, j -> i j", [(2, 3), (3,)], ValueError, r"operand 1 has 2 axes \(shape \(2, 3\)\) but spec n"),
        ("i j -> i, j", [(2, 3)], ValueError, r"one output after '->'"),
        ("... i, i -> ...", [(2, 3), (3,)], ValueError, r"'\.\.\.' is not supported"),
        ("i 2j -> i", [(2, 3)], ValueError, r"identifiers separated by spaces; got '2j'"),
        ("i j -> k", [(2, 3)], ValueError, r"output axis 'k' does not appear in any input"),
        ("i j -> i i", [(2, 3)], ValueError, r"output axis 'i' appears more than once"),
    ],
)
def test_contract_bad_spec(rng, spec, shapes, error, match):
    operands = [rng.standard_normal(s) for s in shapes]
    with pytest.raises(error, match=match):
        contract(spec, *operands)


def test_contract_spec_must_be_string(rng):
    with pytest.raises(TypeError, match=r"spec must be a string"):
        contract(rng.standard_normal((2, 2)), rng.standard_normal((2, 2)))


def test_contract_too_many_axes():
    names = [f"a{i}" for i in range(53)]
    spec = " ".join(names) + " -> " + names[0]
    with pytest.raises(ValueError, match=r"53 distinct axes; np.einsum allows at most 52"):
        einsum_subscripts(spec)


def test_contract_names_length(rng):
    with pytest.raises(ValueError, match=r"names must be a sequence of 2 strings, one per operand"):
        contract("i, i ->", np.ones(2), np.ones(2), names=("x",))
    with pytest.raises(ValueError, match=r"names must be a sequence of 2 strings"):
        contract("i, i ->", np.ones(2), np.ones(2), names="xy")


def test_contract_refuses_nan_and_complex():
    with pytest.raises(ValueError, match=r"x must hold only finite values"):
        contract("i, i ->", np.array([1.0, np.nan]), np.ones(2), names=("x", "y"))
    with pytest.raises(TypeError, match=r"y must hold real numbers"):
        contract("i, i ->", np.ones(2), np.ones(2) * 1j, names=("x", "y"))


# ---------------------------------------------------------------------------
# batched_matmul
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [
        ((1, 1, 1), (1, 1, 1)),
        ((4, 2, 3), (4, 3, 5)),
        ((7, 1, 6), (7, 6, 1)),
        ((3, 2, 3), (3, 5)),  # shared right operand (k, n)
        ((2, 3), (4, 3, 5)),  # shared left operand (m, k)
        ((5, 0, 3), (5, 3, 2)),  # empty rows
    ],
)
def test_batched_matmul_matches_matmul(rng, shape_a, shape_b):
    A = rng.standard_normal(shape_a)
    B = rng.standard_normal(shape_b)
    got = batched_matmul(A, B)
    want = np.einsum("...ik,...kj->...ij", A, B)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_batched_matmul_keeps_float32(rng):
    A = rng.standard_normal((2, 3, 4)).astype(np.float32)
    B = rng.standard_normal((2, 4, 1)).astype(np.float32)
    assert batched_matmul(A, B).dtype == np.float32


def test_batched_matmul_refuses_batch_broadcast(rng):
    A = rng.standard_normal((4, 2, 3))
    B = rng.standard_normal((1, 3, 5))
    assert np.matmul(A, B).shape == (4, 2, 5)  # numpy would stretch the batch of one
    with pytest.raises(
        ValueError,
        match=r"same batch size; got A.shape=\(4, 2, 3\) \(batch 4\) and B.shape=\(1, 3, 5\) \(batch 1\)",
    ):
        batched_matmul(A, B)


def test_batched_matmul_inner_mismatch(rng):
    with pytest.raises(ValueError, match=r"A's last axis k=3 must equal B's second-to-last axis k=4"):
        batched_matmul(rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 4, 5)))
    with pytest.raises(ValueError, match=r"got A.shape=\(2, 3\) and B.shape=\(6, 2, 1\)"):
        batched_matmul(rng.standard_normal((2, 3)), rng.standard_normal((6, 2, 1)))


@pytest.mark.parametrize(
    ("shape_a", "shape_b", "match"),
    [
        ((2, 3), (3, 4), r"at least one 3-D operand .* For a single product use A @ B"),
        ((3,), (2, 3, 4), r"A must be a 3-D array of shape \(batch, m, k\) .* got a 1-D array of shape"),
        ((2, 2, 3), (1, 2, 3, 4), r"B must be a 3-D array of shape \(batch, k, n\) .* 4-D array"),
    ],
)
def test_batched_matmul_bad_ndim(shape_a, shape_b, match):
    with pytest.raises(ValueError, match=match):
        batched_matmul(np.ones(shape_a), np.ones(shape_b))


# ---------------------------------------------------------------------------
# outer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("m", "n"), [(1, 1), (3, 4), (5, 2)])
def test_outer_matches_numpy(rng, m, n):
    u, v = rng.standard_normal(m), rng.standard_normal(n)
    np.testing.assert_allclose(outer(u, v), np.outer(u, v), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("batch", "m", "n"), [(1, 2, 3), (6, 4, 1), (10, 3, 3)])
def test_outer_batched_matches_numpy(rng, batch, m, n):
    U, V = rng.standard_normal((batch, m)), rng.standard_normal((batch, n))
    got = outer(U, V)
    assert got.shape == (batch, m, n)
    want = np.stack([np.outer(U[i], V[i]) for i in range(batch)])
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # Summed over the batch: the weight gradient dW = dZᵀ X of a dense layer.
    np.testing.assert_allclose(got.sum(axis=0), U.T @ V, rtol=1e-10, atol=1e-12)


def test_outer_keeps_float32():
    assert outer(np.ones(2, np.float32), np.ones(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("shape_u", "shape_v", "match"),
    [
        ((3,), (2, 4), r"both 1-D .* got u.shape=\(3,\) and v.shape=\(2, 4\)"),
        ((2, 3, 1), (2, 3, 1), r"both 1-D .* or both 2-D"),
        ((), (3,), r"got u.shape=\(\) and v.shape=\(3,\)"),
        ((2, 3), (5, 4), r"same batch size; got u.shape=\(2, 3\) \(batch 2\) and v.shape=\(5, 4\)"),
    ],
)
def test_outer_errors(shape_u, shape_v, match):
    with pytest.raises(ValueError, match=match):
        outer(np.ones(shape_u), np.ones(shape_v))


# ---------------------------------------------------------------------------
# broadcast_shape / explain_broadcast
# ---------------------------------------------------------------------------

COMPATIBLE = [
    [],
    [()],
    [(3,)],
    [(5,), (5, 1)],
    [(32, 1, 5), (4, 1)],
    [(8, 1, 6, 1), (7, 1, 5)],
    [(2, 3), (1,), ()],
    [(0,), (1,)],
    [(3, 0), (3, 1)],
    [(1, 1, 1), (2,), (3, 1), (4, 1, 1)],
    [4, (3, 1)],
]


@pytest.mark.parametrize("shapes", COMPATIBLE)
def test_broadcast_shape_matches_numpy(shapes):
    assert broadcast_shape(*shapes) == np.broadcast_shapes(*shapes)


INCOMPATIBLE = [
    ([(3,), (4,)], r"at axis -1 \(counted from the right\) the sizes are 3 \(shape 1\), 4 \(shape 2\)"),
    ([(2, 3), (3, 2)], r"axis -2 .* sizes are 2 \(shape 1\), 3 \(shape 2\); at axis -1 .* 3 \(shape 1\), 2"),
    ([(8, 4, 3), (2, 1)], r"at axis -2 \(counted from the right\) the sizes are 4 \(shape 1\), 2"),
    ([(1, 5), (2, 1), (3, 1)], r"axis -2 .* 1 \(shape 1\), 2 \(shape 2\), 3 \(shape 3\)"),
    ([(0,), (2,)], r"axis -1 .* 0 \(shape 1\), 2 \(shape 2\)"),
]


@pytest.mark.parametrize(("shapes", "match"), INCOMPATIBLE)
def test_broadcast_shape_incompatible(shapes, match):
    with pytest.raises(ValueError, match=r"shape mismatch"):  # numpy agrees these fail
        np.broadcast_shapes(*shapes)
    with pytest.raises(ValueError, match=r"cannot broadcast .*" + match + r".*equal sizes or size 1"):
        broadcast_shape(*shapes)


def test_broadcast_shape_names_operands():
    msg = r"cannot broadcast X \(2, 3\) with b \(4,\): at axis -1 .* 3 \(X\), 4 \(b\)"
    with pytest.raises(ValueError, match=msg):
        broadcast_shape((2, 3), (4,), names=("X", "b"))


def test_broadcast_shape_expected_catches_silent_outer_broadcast():
    n = 5
    y_pred, y = np.zeros(n), np.zeros((n, 1))
    assert (y_pred - y).shape == (n, n)  # the bug numpy lets through
    with pytest.raises(
        ValueError,
        match=(
            r"broadcasting y_pred \(5,\) with y \(5, 1\) gives shape \(5, 5\), not the expected \(5,\); "
            r"stretched: y_pred along axis -2 \(missing -> 5\), y along axis -1 \(1 -> 5\)"
        ),
    ):
        broadcast_shape(y_pred.shape, y.shape, names=("y_pred", "y"), expected=y_pred.shape)
    assert broadcast_shape((n, 1), (n, 1), expected=(n, 1)) == (n, 1)
    assert broadcast_shape((4, 3), (3,), expected=[4, 3]) == (4, 3)


@pytest.mark.parametrize(
    ("shapes", "error", "match"),
    [
        ([(2, -1)], ValueError, r"shape 1 must hold sizes >= 0; got \(2, -1\)"),
        ([(2, 1.5)], TypeError, r"shape 1 must hold integer sizes"),
        ([(2,), "23"], TypeError, r"shape 2 must be a shape \(a tuple of ints\); got str"),
        ([np.ones((2, 3))], TypeError, r"got an array. Pass arr.shape instead"),
        ([(2,), None], TypeError, r"shape 2 must be a shape"),
        ([(True, 2)], TypeError, r"integer sizes"),
    ],
)
def test_broadcast_shape_bad_input(shapes, error, match):
    with pytest.raises(error, match=match):
        broadcast_shape(*shapes)


def test_broadcast_shape_accepts_numpy_integers():
    assert broadcast_shape((np.int64(3), 1), (np.int32(4),)) == (3, 4)


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (3, r"names must be a sequence of 2 strings, one per shape; got int 3"),
        ((0, 1), r"names must be a sequence of 2 strings, one per shape; got \(0, 1\)"),
    ],
)
def test_names_must_be_strings(names, match):
    with pytest.raises(TypeError, match=match):
        broadcast_shape((2,), (2,), names=names)
    with pytest.raises(TypeError, match=match.replace("shape", "operand")):
        contract("i, i ->", np.ones(2), np.ones(2), names=names)


def test_broadcast_shape_refuses_sizes_numpy_cannot_index():
    with pytest.raises(ValueError, match=r"shape 1 must hold sizes <= \d+, the largest numpy can index"):
        broadcast_shape((10**30,), (1,))
    with pytest.raises(ValueError, match=r"expected must hold sizes <= \d+"):
        broadcast_shape((2,), expected=(10**30,))


def test_broadcast_shape_names_length():
    with pytest.raises(ValueError, match=r"names must be a sequence of 2 strings, one per shape"):
        broadcast_shape((2,), (2,), names=("a",))


def test_explain_broadcast_table():
    text = explain_broadcast((5,), (5, 1), names=("y_pred", "y"))
    assert text.splitlines() == [
        "         shape  axis -2  axis -1",
        "y_pred    (5,)      (1)        5",
        "y       (5, 1)        5        1",
        "result  (5, 5)        5        5",
        "axis -2: y_pred (1), y 5 -> 5; stretched: y_pred",
        "axis -1: y_pred 5, y 1 -> 5; stretched: y",
    ]


def test_explain_broadcast_marks_failing_axis_without_raising():
    lines = explain_broadcast((2, 3), (4,), names=("X", "b")).splitlines()
    assert lines[3].split() == ["result", "error", "2", "error"]
    assert lines[4] == "axis -2: X 2, b (1) -> 2; stretched: b"
    assert lines[5] == "axis -1: X 3, b 4 -> error: sizes differ and neither is 1"


def test_explain_broadcast_no_stretch():
    lines = explain_broadcast((2, 3), (2, 3)).splitlines()
    assert lines[-2:] == ["axis -2: shape 1 2, shape 2 2 -> 2", "axis -1: shape 1 3, shape 2 3 -> 3"]


def test_explain_broadcast_columns_are_right_aligned():
    lines = explain_broadcast((32, 1, 5), (4, 1), (7,)).splitlines()[:4]
    assert len({len(line) for line in lines}) == 1


# Random small shapes: most pairs are incompatible unless sizes are drawn from {1, n}.
_size = st.sampled_from([0, 1, 1, 2, 3])
_shape = st.lists(_size, min_size=0, max_size=4).map(tuple)


@settings(max_examples=200, deadline=None)
@given(st.lists(_shape, min_size=1, max_size=4))
def test_broadcast_shape_agrees_with_numpy_on_random_shapes(shapes):
    try:
        want = np.broadcast_shapes(*shapes)
    except ValueError:
        with pytest.raises(ValueError, match=r"cannot broadcast"):
            broadcast_shape(*shapes)
        result_line = explain_broadcast(*shapes).splitlines()[len(shapes) + 1]
        assert result_line.split()[1] == "error"
        return
    assert broadcast_shape(*shapes) == want
    assert broadcast_shape(*shapes, expected=want) == want
    table = explain_broadcast(*shapes).splitlines()
    result_row = table[len(shapes) + 1]
    assert result_row.startswith("result")
    assert re.sub(r"\s+", "", result_row) == "result" + str(want).replace(" ", "") + "".join(map(str, want))


# ---------------------------------------------------------------------------
# kron_vec_product
# ---------------------------------------------------------------------------

KRON_SHAPES = [(1, 1, 1, 1), (2, 2, 2, 2), (2, 2, 3, 2), (3, 4, 2, 5), (1, 3, 3, 1), (4, 1, 1, 4)]


@pytest.mark.parametrize(("m", "p", "q", "n"), KRON_SHAPES)
def test_kron_vec_product_matches_formed_kronecker(rng, m, p, q, n):
    A = rng.standard_normal((m, p))
    X = rng.standard_normal((p, q))
    B = rng.standard_normal((q, n))
    K = np.kron(B.T, A)  # (n m, q p): formed explicitly only in this test
    assert K.shape == (n * m, q * p)
    want = K @ _vec(X)
    got = kron_vec_product(A, B, X)
    assert got.shape == (m * n,)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kron_vec_product(A, B, _vec(X)), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, _vec(A @ X @ B), rtol=1e-10, atol=1e-12)


def test_kron_vec_product_dense_layer_jacobian(rng):
    # Z = X Wᵀ, so vec(Z) = (W ⊗ I) vec(X) = (I ⊗ X) vec(Wᵀ): both sides of the identity.
    batch, n_in, n_out = 4, 3, 2
    X = rng.standard_normal((batch, n_in))
    W = rng.standard_normal((n_out, n_in))
    Z = X @ W.T
    np.testing.assert_allclose(kron_vec_product(np.eye(batch), W.T, X), np.kron(W, np.eye(batch)) @ _vec(X), rtol=1e-10)
    np.testing.assert_allclose(kron_vec_product(np.eye(batch), W.T, X), _vec(Z), rtol=1e-10)
    np.testing.assert_allclose(kron_vec_product(X, np.eye(n_out), W.T), _vec(Z), rtol=1e-10)


def test_kron_vec_product_keeps_float32(rng):
    A, B, X = (rng.standard_normal(s).astype(np.float32) for s in [(2, 3), (4, 2), (3, 4)])
    assert kron_vec_product(A, B, X).dtype == np.float32


@pytest.mark.parametrize(
    ("shape_a", "shape_b", "shape_x", "match"),
    [
        ((2, 3), (4, 2), (3, 5), r"X must have shape \(p, q\) = \(3, 4\) .* got X.shape=\(3, 5\)"),
        ((2, 3), (4, 2), (11,), r"p \* q = 3 \* 4 = 12 entries .* got shape \(11,\)"),
        ((2, 3), (4, 2), (3, 4, 1), r"X must be a 2-D matrix \(p, q\) or its 1-D vec"),
        ((3,), (4, 2), (3, 4), r"A must be a 2-D array of shape \(m, p\)"),
        ((2, 3), (4,), (3, 4), r"B must be a 2-D array of shape \(q, n\)"),
    ],
)
def test_kron_vec_product_errors(shape_a, shape_b, shape_x, match):
    with pytest.raises(ValueError, match=match):
        kron_vec_product(np.ones(shape_a), np.ones(shape_b), np.ones(shape_x))

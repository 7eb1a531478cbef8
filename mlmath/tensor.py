r"""Tensor operations with the shapes made explicit.

Derived in chapter 2. Every helper here is a thin layer over one numpy call
(``np.einsum``, ``np.matmul``, a product of matrices) whose only extra work is to check
shapes and, when they disagree, say which axis of which operand is wrong. Nothing is
broadcast silently: an operand whose batch size differs is refused, not stretched.

The names follow the book: ``W`` has shape ``(n_out, n_in)``; a batch ``X`` holds one
sample per row, so the affine map is :math:`Z = XW^\top + \mathbf{1}b^\top`, or in
named axes ``contract("batch in, out in -> batch out", X, W)``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

import numpy as np

from mlmath._validation import as_float_array, as_shape, no_overflow
from mlmath.linalg import unvec, vec

__all__ = [
    "batched_matmul",
    "broadcast_shape",
    "contract",
    "einsum_subscripts",
    "explain_broadcast",
    "kron_vec_product",
    "outer",
]

_AXIS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXAMPLE_SPEC = "'batch in, out in -> batch out'"


# ---------------------------------------------------------------------------
# Named-axis contraction
# ---------------------------------------------------------------------------


def _parse_spec(spec: object) -> tuple[list[list[str]], list[str]]:
    """Split ``"a b, b c -> a c"`` into ``[["a", "b"], ["b", "c"]]`` and ``["a", "c"]``."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string such as {_EXAMPLE_SPEC}; got {type(spec).__name__}")
    if spec.count("->") != 1:
        raise ValueError(
            f"spec must contain exactly one '->' between the inputs and the output, e.g. {_EXAMPLE_SPEC}; got {spec!r}"
        )
    left, right = spec.split("->")
    inputs = [term.split() for term in left.split(",")]
    output = right.split()
    if "," in right:
        raise ValueError(f"spec must name one output after '->' (no commas); got {right.strip()!r}")
    for axis in [a for term in inputs for a in term] + output:
        if not _AXIS_NAME.match(axis):
            hint = " ('...' is not supported: name every axis)" if "." in axis else ""
            raise ValueError(
                f"axis names in spec must be identifiers separated by spaces{hint}; got {axis!r} in {spec!r}"
            )
    seen_in = {a for term in inputs for a in term}
    for axis in output:
        if axis not in seen_in:
            raise ValueError(f"output axis {axis!r} does not appear in any input of spec {spec!r}")
        if output.count(axis) > 1:
            raise ValueError(f"output axis {axis!r} appears more than once in spec {spec!r}")
    return inputs, output


def _letters(inputs: list[list[str]], output: list[str]) -> dict[str, str]:
    """Give each axis name one einsum letter, in order of first appearance."""
    names: list[str] = []
    for axis in [a for term in inputs for a in term] + output:
        if axis not in names:
            names.append(axis)
    if len(names) > len(string.ascii_letters):
        raise ValueError(f"spec names {len(names)} distinct axes; np.einsum allows at most 52")
    return dict(zip(names, string.ascii_letters, strict=False))


def einsum_subscripts(spec: str) -> str:
    """Translate a named-axis ``spec`` into the one-letter subscripts of ``np.einsum``.

    Parameters
    ----------
    spec : str
        Space-separated axis names for each input, inputs separated by commas, then
        ``->`` and the output's axis names, e.g. ``"batch in, out in -> batch out"``.

    Returns
    -------
    str
        The ``np.einsum`` subscripts; each axis name gets a letter in order of first
        appearance.

    Examples
    --------
    >>> einsum_subscripts("batch in, out in -> batch out")
    'ab,cb->ac'
    >>> einsum_subscripts("i, j -> i j")
    'a,b->ab'
    """
    inputs, output = _parse_spec(spec)
    letter = _letters(inputs, output)
    left = ",".join("".join(letter[a] for a in term) for term in inputs)
    return left + "->" + "".join(letter[a] for a in output)


def _operand_names(names: object, count: int, what: str = "operand") -> list[str]:
    if names is None:
        return [f"{what} {i + 1}" for i in range(count)]
    expected = f"names must be a sequence of {count} strings, one per {what}"
    if not isinstance(names, Sequence):
        raise TypeError(f"{expected}; got {type(names).__name__} {names!r}")
    if isinstance(names, str) or len(names) != count:
        raise ValueError(f"{expected}; got {names!r}")
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{expected}; got {names!r}")
    return list(names)


def contract(spec: str, *operands: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
    r"""Contract tensors over named axes: ``np.einsum`` with axis names and shape checks.

    Each axis has a name; an axis name shared by several operands must have the same size
    in all of them, and an axis that is absent from the output is summed over. For the
    batched affine map :math:`Z = XW^\top`,

    .. math:: Z_{\text{batch},\,\text{out}} = \sum_{\text{in}}
              X_{\text{batch},\,\text{in}}\, W_{\text{out},\,\text{in}} .

    Derived in chapter 2.

    Parameters
    ----------
    spec : str
        For each operand its axis names separated by spaces, operands separated by commas,
        then ``->`` and the axis names of the result: ``"batch in, out in -> batch out"``.
        Names are identifiers (``in``, ``n_out``, ``t``); ``...`` is not supported.
    *operands : array_like
        One real array per input term of ``spec``, with as many axes as the term names.
    names : sequence of str, optional
        Names of the operands used in error messages (default ``"operand 1"``, ...).

    Returns
    -------
    numpy.ndarray
        The result of ``np.einsum``, with one axis per output name in the order written
        (a 0-D result when the output names no axis).

    Raises
    ------
    ValueError
        If ``spec`` is malformed, names a different number of operands or axes than given,
        or if an axis has different sizes in two places; the message names the axis, both
        operands and their shapes. Also if an operand holds NaN or infinity, ``names`` has
        the wrong length, or the result overflows.
    TypeError
        If ``spec`` is not a string, an operand is not real-valued, or ``names`` is not a
        sequence of strings.

    See Also
    --------
    einsum_subscripts : the one-letter ``np.einsum`` form of ``spec``.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])   # (batch, in) = (2, 3)
    >>> W = np.array([[1.0, 0.0, -1.0]])                  # (out, in) = (1, 3)
    >>> contract("batch in, out in -> batch out", X, W)
    array([[-2.],
           [-2.]])
    >>> contract("batch in, out in -> batch out", X, W.T, names=("X", "W.T"))
    Traceback (most recent call last):
    ...
    ValueError: axis 'in' has size 3 in X (shape (2, 3)) but size 1 in W.T (shape (3, 1)); ...
    """
    inputs, _ = _parse_spec(spec)
    if len(inputs) != len(operands):
        raise ValueError(f"spec {spec!r} names {len(inputs)} operand(s) before '->' but {len(operands)} were given")
    labels = _operand_names(names, len(operands))
    arrays = [as_float_array(op, label) for op, label in zip(operands, labels, strict=True)]
    first: dict[str, tuple[int, str, tuple[int, ...]]] = {}
    for term, arr, label in zip(inputs, arrays, labels, strict=True):
        if len(term) != arr.ndim:
            raise ValueError(
                f"{label} has {arr.ndim} axes (shape {arr.shape}) but spec names {len(term)} for it: {' '.join(term)!r}"
            )
        for axis, size in zip(term, arr.shape, strict=True):
            if axis not in first:
                first[axis] = (size, label, arr.shape)
                continue
            size0, label0, shape0 = first[axis]
            if size != size0:
                where = (
                    f"twice in {label} (shape {shape0}) with sizes {size0} and {size}"
                    if label0 == label
                    else f"size {size0} in {label0} (shape {shape0}) but size {size} in {label} (shape {arr.shape})"
                )
                raise ValueError(
                    f"axis {axis!r} has {where}; a shared axis must have the same size everywhere "
                    f"it appears (spec {spec!r})"
                )
    subscripts = einsum_subscripts(spec)
    with no_overflow(f"the contraction of {', '.join(labels)}"):
        return np.einsum(subscripts, *arrays, optimize=len(arrays) > 1)


# ---------------------------------------------------------------------------
# Batched products
# ---------------------------------------------------------------------------


def batched_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Multiply matrices batch by batch: :math:`C_i = A_i B_i`, with no batch broadcasting.

    ``A`` of shape ``(batch, m, k)`` and ``B`` of shape ``(batch, k, n)`` give ``C`` of shape
    ``(batch, m, n)``. The batch sizes must be equal: unlike ``np.matmul``, a batch of size 1
    is *not* stretched to match the other, because that is usually a bug.

    One documented exception: either operand may be a single 2-D matrix shared by the
    whole batch, ``A`` of shape ``(m, k)`` or ``B`` of shape ``(k, n)`` (the same weights
    applied to every sample, as a layer does to each time step of a sequence).

    Derived in chapter 2.

    Parameters
    ----------
    A : array_like of shape (batch, m, k), or (m, k) shared by the batch
    B : array_like of shape (batch, k, n), or (k, n) shared by the batch

    Returns
    -------
    numpy.ndarray of shape (batch, m, n)

    Raises
    ------
    ValueError
        If an operand is not 2-D or 3-D, both are 2-D, the batch sizes differ, or the
        inner sizes ``k`` differ; the message names both shapes. Also if an operand holds NaN
        or infinity, or the product overflows.
    TypeError
        If an operand is not real-valued.

    Examples
    --------
    >>> A = np.arange(12.0).reshape(2, 2, 3)   # two 2×3 matrices
    >>> B = np.ones((2, 3, 1))                 # two 3×1 matrices
    >>> batched_matmul(A, B)
    array([[[ 3.],
            [12.]],
    <BLANKLINE>
           [[21.],
            [30.]]])
    >>> batched_matmul(A, np.ones((1, 3, 1)))
    Traceback (most recent call last):
    ...
    ValueError: A and B must have the same batch size; got A.shape=(2, 2, 3) (batch 2) and ...
    """
    A = as_float_array(A, "A")
    B = as_float_array(B, "B")
    for arr, name, inner in ((A, "A", "(m, k)"), (B, "B", "(k, n)")):
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"{name} must be a 3-D array of shape (batch, {inner[1:-1]}) or a 2-D matrix {inner} "
                f"shared by the batch; got a {arr.ndim}-D array of shape {arr.shape}"
            )
    if A.ndim == 2 and B.ndim == 2:
        raise ValueError(
            f"batched_matmul needs at least one 3-D operand (batch, m, k); got two matrices "
            f"A.shape={A.shape} and B.shape={B.shape}. For a single product use A @ B"
        )
    if A.ndim == 3 and B.ndim == 3 and A.shape[0] != B.shape[0]:
        raise ValueError(
            f"A and B must have the same batch size; got A.shape={A.shape} (batch {A.shape[0]}) "
            f"and B.shape={B.shape} (batch {B.shape[0]}). batched_matmul does not broadcast the "
            f"batch axis; pass a 2-D matrix to share it, or repeat it with np.broadcast_to"
        )
    if A.shape[-1] != B.shape[-2]:
        raise ValueError(
            f"the inner sizes must agree: A's last axis k={A.shape[-1]} must equal B's "
            f"second-to-last axis k={B.shape[-2]}; got A.shape={A.shape} and B.shape={B.shape}"
        )
    with no_overflow("A @ B for these A and B"):
        return np.matmul(A, B)


def outer(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r"""Outer product :math:`u v^\top`, of one pair of vectors or of a batch of pairs.

    For vectors ``u`` of shape ``(m,)`` and ``v`` of shape ``(n,)`` the result is the
    ``(m, n)`` matrix with entries :math:`u_i v_j`. For batches ``(batch, m)`` and
    ``(batch, n)`` it is the ``(batch, m, n)`` stack of the per-sample outer products
    (the per-sample weight gradients :math:`\delta x^\top` of a dense layer).

    Derived in chapter 2.

    Parameters
    ----------
    u : array_like of shape (m,) or (batch, m)
    v : array_like of shape (n,) or (batch, n), with as many axes as ``u``

    Returns
    -------
    numpy.ndarray of shape (m, n) or (batch, m, n)

    Raises
    ------
    ValueError
        If ``u`` and ``v`` are not both 1-D or both 2-D with the same batch size, hold NaN or
        infinity, or their product overflows.
    TypeError
        If ``u`` or ``v`` is not real-valued.

    Examples
    --------
    >>> outer([1, 2], [3, 4, 5])
    array([[ 3.,  4.,  5.],
           [ 6.,  8., 10.]])
    >>> outer([[1, 2]], [[3, 4, 5]]).shape
    (1, 2, 3)
    """
    u = as_float_array(u, "u")
    v = as_float_array(v, "v")
    if u.ndim not in (1, 2) or u.ndim != v.ndim:
        raise ValueError(
            f"u and v must be both 1-D (m,), (n,) or both 2-D (batch, m), (batch, n); "
            f"got u.shape={u.shape} and v.shape={v.shape}"
        )
    if u.ndim == 2 and u.shape[0] != v.shape[0]:
        raise ValueError(
            f"u and v must have the same batch size; got u.shape={u.shape} (batch {u.shape[0]}) "
            f"and v.shape={v.shape} (batch {v.shape[0]}). outer does not broadcast the batch axis"
        )
    with no_overflow("the outer product of u and v"):
        return u[..., :, None] * v[..., None, :]


# ---------------------------------------------------------------------------
# Broadcasting made explicit
# ---------------------------------------------------------------------------


def _aligned(shapes: list[tuple[int, ...]]) -> tuple[int, list[list[int | None]]]:
    """Right-align the shapes: row i, column j is the size of shape i at axis j - ndim (None if absent)."""
    ndim = max((len(s) for s in shapes), default=0)
    return ndim, [[None] * (ndim - len(s)) + list(s) for s in shapes]


def _axis_result(sizes: list[int | None]) -> int | None:
    """Broadcast size of one axis, or None if the sizes conflict (missing counts as 1)."""
    big = {n for n in sizes if n is not None and n != 1}
    if len(big) > 1:
        return None
    return big.pop() if big else 1


def _fmt(shape: tuple[int, ...]) -> str:
    return str(tuple(shape))


def broadcast_shape(
    *shapes: Sequence[int] | int,
    names: Sequence[str] | None = None,
    expected: Sequence[int] | None = None,
) -> tuple[int, ...]:
    r"""The shape numpy's broadcasting gives to ``shapes``, or an error saying which rule failed.

    The rule: align the shapes on the right; a missing axis counts as size 1; at every axis
    the sizes must be equal or 1, and a size 1 is stretched to the other size. The result
    agrees with ``np.broadcast_shapes``; the difference is the message when it fails, and the
    ``expected`` check that catches a broadcast that *succeeds* into an unintended shape.

    Derived in chapter 2.

    Parameters
    ----------
    *shapes : tuple of int, or int
        The shapes to broadcast (an int ``n`` stands for ``(n,)``).
    names : sequence of str, optional
        Names of the operands for messages (default ``"shape 1"``, ``"shape 2"``, ...).
    expected : tuple of int, optional
        If given, the broadcast shape must equal it; e.g. the shape of a loss's target.

    Returns
    -------
    tuple of int
        The broadcast shape; ``()`` when no shape is given.

    Raises
    ------
    ValueError
        If two sizes at an axis differ and neither is 1 (the message names the axis,
        counted from the right, and each operand's size there), or if the result differs
        from ``expected`` (the message says which operand was stretched along which axis).
        Also if a size is negative or larger than numpy can index, or ``names`` has the wrong
        length.
    TypeError
        If a shape is not a sequence of integers, or ``names`` is not a sequence of strings.

    See Also
    --------
    explain_broadcast : the same rule printed as a table, axis by axis.

    Examples
    --------
    >>> broadcast_shape((32, 1, 5), (4, 1))
    (32, 4, 5)
    >>> broadcast_shape((2, 3), (4,), names=("X", "b"))
    Traceback (most recent call last):
    ...
    ValueError: cannot broadcast X (2, 3) with b (4,): at axis -1 (counted from the right) the sizes are ...
    >>> broadcast_shape((5,), (5, 1), names=("y_pred", "y"), expected=(5,))
    Traceback (most recent call last):
    ...
    ValueError: broadcasting y_pred (5,) with y (5, 1) gives shape (5, 5), not the expected (5,); ...
    """
    labels = _operand_names(names, len(shapes), "shape")
    parsed = [as_shape(s, label) for s, label in zip(shapes, labels, strict=True)]
    ndim, rows = _aligned(parsed)
    described = " with ".join(f"{label} {_fmt(s)}" for label, s in zip(labels, parsed, strict=True))
    result: list[int] = []
    conflicts = []
    for j in range(ndim):
        column = [row[j] for row in rows]
        size = _axis_result(column)
        if size is None:
            present = ", ".join(f"{n} ({label})" for n, label in zip(column, labels, strict=True) if n is not None)
            conflicts.append(f"at axis {j - ndim} (counted from the right) the sizes are {present}")
        else:
            result.append(size)
    if conflicts:
        raise ValueError(
            f"cannot broadcast {described}: {'; '.join(conflicts)}. Broadcasting aligns shapes on the "
            f"right and needs, at every axis, equal sizes or size 1 (a missing axis counts as 1)"
        )
    out = tuple(result)
    if expected is not None:
        want = as_shape(expected, "expected")
        if out != want:
            stretched = []
            for j in range(ndim):
                for row, label in zip(rows, labels, strict=True):
                    n = row[j]
                    if out[j] != (1 if n is None else n):
                        was = "missing" if n is None else "1"
                        stretched.append(f"{label} along axis {j - ndim} ({was} -> {out[j]})")
            how = f"; stretched: {', '.join(stretched)}" if stretched else ""
            raise ValueError(
                f"broadcasting {described} gives shape {_fmt(out)}, not the expected {_fmt(want)}{how}. "
                f"Reshape the operands so their shapes agree before combining them"
            )
    return out


def explain_broadcast(*shapes: Sequence[int] | int, names: Sequence[str] | None = None) -> str:
    """Show numpy's broadcasting rule applied to ``shapes``, as a text table and one line per axis.

    The table aligns the shapes on the right, writes ``(1)`` where an axis is missing (it
    counts as size 1), and gives the result on the last row. Below it, each axis states
    its sizes and what they broadcast to, and which operands are stretched. Incompatible
    shapes do not raise: the failing axis is marked ``error`` (use :func:`broadcast_shape`
    to raise).

    Derived in chapter 2.

    Parameters
    ----------
    *shapes : tuple of int, or int
        The shapes to broadcast (an int ``n`` stands for ``(n,)``).
    names : sequence of str, optional
        Names of the operands (default ``"shape 1"``, ``"shape 2"``, ...).

    Returns
    -------
    str
        A table with one row per operand and one column per axis, then the rule for each axis.

    Raises
    ------
    TypeError
        If a shape is not a sequence of integers, or ``names`` is not a sequence of strings.
    ValueError
        If a size is negative or larger than numpy can index, or ``names`` has the wrong length.

    Examples
    --------
    >>> print(explain_broadcast((5,), (5, 1), names=("y_pred", "y")))
             shape  axis -2  axis -1
    y_pred    (5,)      (1)        5
    y       (5, 1)        5        1
    result  (5, 5)        5        5
    axis -2: y_pred (1), y 5 -> 5; stretched: y_pred
    axis -1: y_pred 5, y 1 -> 5; stretched: y
    """
    labels = _operand_names(names, len(shapes), "shape")
    parsed = [as_shape(s, label) for s, label in zip(shapes, labels, strict=True)]
    ndim, rows = _aligned(parsed)
    results = [_axis_result([row[j] for row in rows]) for j in range(ndim)]
    ok = all(r is not None for r in results)
    header = ["", "shape"] + [f"axis {j - ndim}" for j in range(ndim)]
    table = [header]
    for label, shape, row in zip(labels, parsed, rows, strict=True):
        table.append([label, _fmt(shape)] + ["(1)" if n is None else str(n) for n in row])
    result_shape = _fmt(tuple(r for r in results if r is not None)) if ok else "error"
    table.append(["result", result_shape] + ["error" if r is None else str(r) for r in results])
    widths = [max(len(line[c]) for line in table) for c in range(len(header))]
    lines = []
    for line in table:
        cells = [line[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    for j, r in enumerate(results):
        column = [row[j] for row in rows]
        sizes = ", ".join(f"{label} {'(1)' if n is None else n}" for label, n in zip(labels, column, strict=True))
        if r is None:
            verdict = "error: sizes differ and neither is 1"
        else:
            stretched = [label for label, n in zip(labels, column, strict=True) if (1 if n is None else n) != r]
            verdict = f"{r}; stretched: {', '.join(stretched)}" if stretched else f"{r}"
        lines.append(f"axis {j - ndim}: {sizes} -> {verdict}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The Kronecker identity
# ---------------------------------------------------------------------------


def kron_vec_product(A: np.ndarray, B: np.ndarray, X: np.ndarray) -> np.ndarray:
    r"""Compute :math:`(B^\top \otimes A)\operatorname{vec}(X)` as :math:`\operatorname{vec}(AXB)`.

    The identity :math:`\operatorname{vec}(AXB) = (B^\top \otimes A)\operatorname{vec}(X)`
    (``vec`` stacks columns) turns a product with an :math:`nm \times qp` Kronecker matrix
    into two small matrix products, without ever forming :math:`B^\top \otimes A`: memory
    :math:`O(mp + qn)` instead of :math:`O(mnpq)`, and :math:`O(mpq + mqn)` multiply-adds
    instead of :math:`O(mnpq)`.

    Derived in chapter 2.

    Parameters
    ----------
    A : array_like of shape (m, p)
    B : array_like of shape (q, n)
    X : array_like of shape (p, q), or its vec of shape (p * q,)

    Returns
    -------
    numpy.ndarray of shape (m * n,)
        :math:`\operatorname{vec}(AXB)`, column-major like :func:`mlmath.linalg.vec`.

    Raises
    ------
    ValueError
        If the shapes do not chain as ``(m, p) (p, q) (q, n)``, an input holds NaN or
        infinity, or the product overflows.
    TypeError
        If an input is not real-valued.

    See Also
    --------
    mlmath.linalg.vec, mlmath.linalg.unvec

    Examples
    --------
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> B = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> kron_vec_product(A, B, X)
    array([4., 8., 1., 3.])
    >>> np.kron(B.T, A) @ X.reshape(-1, order="F")   # the same, with the big matrix formed
    array([4., 8., 1., 3.])
    """
    A = as_float_array(A, "A", ndim=2, shape_hint="(m, p)")
    B = as_float_array(B, "B", ndim=2, shape_hint="(q, n)")
    X = as_float_array(X, "X")
    p, q = A.shape[1], B.shape[0]
    if X.ndim == 1:
        if X.size != p * q:
            raise ValueError(
                f"X given as vec(X) must have p * q = {p} * {q} = {p * q} entries (p = A.shape[1], "
                f"q = B.shape[0]); got shape {X.shape} with A.shape={A.shape} and B.shape={B.shape}"
            )
        X = unvec(X, (p, q))
    elif X.ndim == 2:
        if X.shape != (p, q):
            raise ValueError(
                f"X must have shape (p, q) = ({p}, {q}) to chain A.shape={A.shape} @ X @ B.shape={B.shape}; "
                f"got X.shape={X.shape}"
            )
    else:
        raise ValueError(f"X must be a 2-D matrix (p, q) or its 1-D vec (p * q,); got shape {X.shape}")
    with no_overflow("A X B for these A, X and B"):
        return vec(A @ X @ B)

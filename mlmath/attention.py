r"""Scaled dot-product attention and the multi-head attention layer, each with its backward pass and R-operator.

Derived in chapter 8. For queries :math:`Q` (``(..., T_q, d_k)``), keys :math:`K` (``(..., T_k, d_k)``)
and values :math:`V` (``(..., T_k, d_v)``), with a mask :math:`M` that holds 0 where a query may
attend to a key and :math:`-\infty` where it may not,

.. math::

    S = \frac{QK^\top}{\sqrt{d_k}} + M, \qquad A = \operatorname{softmax}(S) \text{ row by row}, \qquad O = AV.

The backward pass is three matrix products and chapter 3's softmax Jacobian
:math:`\operatorname{diag}(a) - aa^\top`, applied to each row of :math:`A`:

.. math::

    dV = A^\top dO, \qquad dA = dO\,V^\top, \qquad
    dS = A \odot \bigl(dA - (dA \odot A)\mathbf{1}\mathbf{1}^\top\bigr), \qquad
    dQ = \frac{dS\,K}{\sqrt{d_k}}, \qquad dK = \frac{dS^\top Q}{\sqrt{d_k}}.

A masked entry has :math:`S_{ij} = -\infty`, so :math:`A_{ij} = e^{-\infty} = 0` exactly and,
since every term of :math:`dS_{ij}` carries the factor :math:`A_{ij}`, :math:`dS_{ij} = 0` exactly:
a masked key and its value take no part in the output nor in any gradient. A query whose every
key is masked would give :math:`0/0`; the checked functions refuse such a mask.

Masks follow Keras's ``attention_mask`` convention: a boolean array, ``True`` where the query
may attend. (PyTorch's ``scaled_dot_product_attention`` takes the same boolean convention in
``attn_mask``; ``nn.MultiheadAttention`` takes the opposite one, ``True`` = masked.)
"""

from __future__ import annotations

import math

import numpy as np

from mlmath._validation import (
    as_float_array,
    as_generator,
    check_bool,
    check_int,
    check_nonempty,
    check_size,
    no_overflow,
)
from mlmath.activations import SOFTMAX
from mlmath.layers import Dense, Layer, as_batch, features_error

__all__ = [
    "MultiHeadAttention",
    "causal_mask",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
]


# ---------------------------------------------------------------------------
# unchecked kernels (the layer's hot path calls these)
# ---------------------------------------------------------------------------


def _bias(mask: np.ndarray | None, dtype: np.dtype) -> np.ndarray | None:
    """The additive mask :math:`M`: 0 where ``mask`` is True, :math:`-\\infty` where it is False."""
    if mask is None:
        return None
    return np.where(mask, dtype.type(0), dtype.type(-np.inf))


def _causal_bias(T: int, dtype: np.dtype) -> np.ndarray:
    """:math:`M_{ij} = -\\infty` for :math:`j > i` (a position attends to itself and the past)."""
    return np.triu(np.full((T, T), -np.inf, dtype=dtype), k=1)


def _weights(Qs: np.ndarray, K: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """The weights :math:`A = \\operatorname{softmax}(Q_s K^\\top + M)`, row by row, for scaled queries ``Qs``."""
    S = Qs @ K.swapaxes(-1, -2)
    if bias is not None:
        S += bias
    return SOFTMAX.forward(S)


def _backward(
    dO: np.ndarray,
    Qs: np.ndarray,
    K: np.ndarray,
    V: np.ndarray,
    A: np.ndarray,
    scale: float,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dQ, dK, dV)`` for ``O = A V``, ``A = softmax(Qs K^T + M)``, ``Qs = scale * Q`` (the module's formulas).

    Written into the arrays ``out`` if given (views of a larger array, say), else into new ones.
    """
    dQ, dK, dV = (None, None, None) if out is None else out
    dV = np.matmul(A.swapaxes(-1, -2), dO, out=dV)
    dS = SOFTMAX.backward(A, A, dO @ V.swapaxes(-1, -2))  # chapter 3's softmax VJP, row by row (reads A, dA)
    dQ = np.matmul(dS, K, out=dQ)
    dQ *= scale
    dK = np.matmul(dS.swapaxes(-1, -2), Qs, out=dK)  # Qs carries the factor 1/sqrt(d_k)
    return dQ, dK, dV


# ---------------------------------------------------------------------------
# the checked functions
# ---------------------------------------------------------------------------


def _as_qkv(Q: object, K: object, V: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Q``, ``K``, ``V`` checked (finite, at least 2-D, same leading axes, sizes that fit), in one dtype."""
    arrays = []
    for value, name, axes in ((Q, "Q", "T_q, d_k"), (K, "K", "T_k, d_k"), (V, "V", "T_k, d_v")):
        arr = as_float_array(value, name)
        if arr.ndim < 2:
            raise ValueError(f"{name} must have shape (..., {axes}), at least 2-D; got shape {arr.shape}")
        check_nonempty(arr, name)
        arrays.append(arr)
    q, k, v = arrays
    for arr, name in ((k, "K"), (v, "V")):
        if arr.shape[:-2] != q.shape[:-2]:
            raise ValueError(
                f"{name} must have the leading axes of Q, {q.shape[:-2]} (batch, heads, ...); got shape {arr.shape}"
            )
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"K must have d_k = {q.shape[-1]} columns, like Q; got shape {k.shape}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"V must have T_k = {k.shape[-2]} rows, one per key of K; got shape {v.shape}")
    dtype = np.result_type(q, k, v)
    return q.astype(dtype, copy=False), k.astype(dtype, copy=False), v.astype(dtype, copy=False)


def _check_mask(mask: object, scores_shape: tuple[int, ...]) -> np.ndarray | None:
    """``mask`` as a boolean array broadcastable to ``scores_shape``, with at least one True per row."""
    if mask is None:
        return None
    try:
        arr = np.asarray(mask)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"mask must be a boolean array (True = may attend); got {type(mask).__name__}") from exc
    if arr.dtype != np.bool_:
        raise TypeError(
            f"mask must be a boolean array (True = may attend, Keras's convention); got dtype {arr.dtype}. "
            "For an additive mask of 0 and -inf, pass mask == 0."
        )
    try:
        shape = np.broadcast_shapes(arr.shape, scores_shape)
    except ValueError:
        shape = None
    if shape != scores_shape:
        raise ValueError(
            f"mask must broadcast to the scores' shape {scores_shape} (..., T_q, T_k); got shape {arr.shape}"
        )
    empty = ~arr.any(axis=-1)
    if empty.any():
        where = tuple(int(i) for i in np.argwhere(empty)[0])
        raise ValueError(
            f"mask leaves a query with no key to attend to (row {where} of mask is all False): its softmax "
            "would be 0/0. Let every query attend to at least one key, e.g. to itself."
        )
    return arr


def scaled_dot_product_attention(
    Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Scaled dot-product attention :math:`O = \operatorname{softmax}(QK^\top/\sqrt{d_k} + M)\,V` and its weights.

    Derived in chapter 8. Row :math:`i` of :math:`A` is a probability vector over the keys:
    how much query :math:`i` takes of each value.

    Parameters
    ----------
    Q : array_like of shape (..., T_q, d_k)
        Queries, one per row; any leading axes (batch, heads) are carried through.
    K : array_like of shape (..., T_k, d_k)
        Keys, with the leading axes of ``Q``.
    V : array_like of shape (..., T_k, d_v)
        Values, one per key.
    mask : bool array_like broadcastable to (..., T_q, T_k), optional
        ``True`` where query :math:`i` may attend to key :math:`j` (Keras's ``attention_mask``;
        :func:`causal_mask` gives the causal one). A masked weight is exactly 0.

    Returns
    -------
    O : numpy.ndarray of shape (..., T_q, d_v)
    A : numpy.ndarray of shape (..., T_q, T_k)
        The attention weights; each row sums to 1. float32 inputs give float32 results.

    Raises
    ------
    ValueError
        For mismatched shapes, non-finite values, or a mask row with no True (a query with
        nothing to attend to).
    TypeError
        For a mask that is not boolean.

    Notes
    -----
    PyTorch: ``torch.nn.functional.scaled_dot_product_attention(Q, K, V, attn_mask=mask)`` returns
    ``O`` (the same boolean convention, same scale).

    Examples
    --------
    >>> Q = K = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> V = np.array([[1.0], [2.0]])
    >>> O, A = scaled_dot_product_attention(Q, K, V, mask=causal_mask(2))
    >>> A
    array([[1.        , 0.        ],
           [0.33023845, 0.66976155]])
    >>> O
    array([[1.        ],
           [1.66976155]])
    """
    q, k, v = _as_qkv(Q, K, V)
    m = _check_mask(mask, (*q.shape[:-1], k.shape[-2]))
    with no_overflow("the scores Q K^T / sqrt(d_k)"):
        A = _weights(q * (1 / math.sqrt(q.shape[-1])), k, _bias(m, q.dtype))
        return A @ v, A


def scaled_dot_product_attention_backward(
    dO: np.ndarray, Q: np.ndarray, K: np.ndarray, V: np.ndarray, A: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The vector-Jacobian product of :func:`scaled_dot_product_attention`: ``(dQ, dK, dV)`` from ``dO``.

    Derived in chapter 8, with chapter 3's softmax VJP applied row by row:

    .. math::

        dV = A^\top dO, \quad dA = dO\,V^\top, \quad
        dS = A \odot \bigl(dA - (dA \odot A)\mathbf{1}\mathbf{1}^\top\bigr), \quad
        dQ = \frac{dS\,K}{\sqrt{d_k}}, \quad dK = \frac{dS^\top Q}{\sqrt{d_k}}.

    The mask enters only through ``A``: where a weight is 0, :math:`dS` is 0 too, so masked keys
    and values get exactly zero gradient from those queries.

    Parameters
    ----------
    dO : array_like of shape (..., T_q, d_v)
        :math:`\partial L/\partial O`.
    Q, K, V : array_like
        The forward pass's inputs (shapes as in :func:`scaled_dot_product_attention`).
    A : array_like of shape (..., T_q, T_k)
        The weights the forward pass returned.

    Returns
    -------
    dQ, dK, dV : numpy.ndarray
        Gradients with the shapes of ``Q``, ``K`` and ``V``.

    Examples
    --------
    >>> Q = K = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> V = np.array([[1.0], [2.0]])
    >>> O, A = scaled_dot_product_attention(Q, K, V)
    >>> dQ, dK, dV = scaled_dot_product_attention_backward(np.ones_like(O), Q, K, V, A)
    >>> dV  # each value receives the weight it was given, summed over the queries
    array([[1.],
           [1.]])
    """
    q, k, v = _as_qkv(Q, K, V)
    lead, T_q, T_k, d_v = q.shape[:-2], q.shape[-2], k.shape[-2], v.shape[-1]
    d = as_float_array(dO, "dO")
    if d.shape != (*lead, T_q, d_v):
        raise ValueError(f"dO must have the shape of the output O, {(*lead, T_q, d_v)}; got shape {d.shape}")
    a = as_float_array(A, "A")
    if a.shape != (*lead, T_q, T_k):
        raise ValueError(f"A must have the shape of the weights, {(*lead, T_q, T_k)}; got shape {a.shape}")
    dtype = np.result_type(q, d, a)
    scale = 1 / math.sqrt(q.shape[-1])
    with no_overflow("the gradients of Q, K and V"):
        return _backward(
            d.astype(dtype, copy=False),
            q.astype(dtype) * scale,
            k.astype(dtype),
            v.astype(dtype),
            a.astype(dtype),
            scale,
        )


def causal_mask(T: int) -> np.ndarray:
    r"""The causal mask: a boolean ``(T, T)`` array, True where :math:`j \le i` (position :math:`i` sees :math:`j`).

    Keras's ``use_causal_mask=True``; PyTorch's ``is_causal=True``. Position :math:`i` attends to
    itself and to the positions before it, never to later ones, so every row has a True.

    Parameters
    ----------
    T : int >= 1
        Sequence length.

    Returns
    -------
    numpy.ndarray of shape (T, T), dtype bool (lower triangular)

    Examples
    --------
    >>> causal_mask(3)
    array([[ True, False, False],
           [ True,  True, False],
           [ True,  True,  True]])
    """
    T = check_size(T, "T")
    return np.tril(np.ones((T, T), dtype=bool))


# ---------------------------------------------------------------------------
# the layer
# ---------------------------------------------------------------------------


def _glorot(fan_in: int, fan_out: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Glorot uniform: limit :math:`\\sqrt{6/(\\text{fan}_{in} + \\text{fan}_{out})}`, Keras's fans given."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


class MultiHeadAttention(Layer):
    r"""Multi-head self-attention on sequences: ``(m, T, d)`` to ``(m, T, d)``, Keras's ``MultiHeadAttention``.

    Derived in chapter 8. With :math:`H` heads of sizes :math:`d_k` (queries and keys) and
    :math:`d_v` (values), one matrix product projects every position of every sample to all
    queries, keys and values at once, :math:`P = XW_{qkv}^\top + \mathbf{1}b_{qkv}^\top`; the
    columns of :math:`P` split into :math:`Q, K, V` and each of those into :math:`H` heads (a
    reshape to ``(m, H, T, d_h)``); every head attends on its own (batched matrix products), and
    the heads' outputs, side by side, are projected back to the input width:

    .. math::

        O_h = \operatorname{softmax}\Bigl(\frac{Q_h K_h^\top}{\sqrt{d_k}} + M\Bigr)V_h, \qquad
        Y = [O_1, \dots, O_H]\,W_o^\top + \mathbf{1}b_o^\top.

    Both projections are :class:`~mlmath.layers.Dense` layers (position-wise) acting on this
    layer's arrays, so their backward and R-operator rules are chapter 4's and chapter 5's; this
    layer adds the attention of :func:`scaled_dot_product_attention` between them, with its
    backward pass and its R-operator (so :meth:`mlmath.models.Sequential.hessian_vector_product`
    works through attention).

    Parameters
    ----------
    num_heads : int >= 1
        :math:`H`.
    key_dim : int >= 1
        :math:`d_k`, the size of each head's queries and keys (Keras's ``key_dim``).
    value_dim : int >= 1, optional
        :math:`d_v`, the size of each head's values; default ``key_dim`` (as Keras).
    use_bias : bool, default True
        Whether the four projections have biases.
    causal : bool, default False
        Apply :func:`causal_mask`: position :math:`i` attends only to positions :math:`j \le i`
        (Keras's ``use_causal_mask=True`` at call time).
    seed : int, optional
        Seed of this layer's own generator for its initial weights (as in ``Dense``); without it
        the generator passed to ``build`` (a model's) draws them.
    name : str, optional

    Attributes
    ----------
    params : dict
        ``W_qkv`` of shape ``(H (2 d_k + d_v), d)``: the rows of :math:`W_q` (``H d_k``), then
        :math:`W_k` (``H d_k``), then :math:`W_v` (``H d_v``), head after head within each;
        ``b_qkv`` of shape ``(H (2 d_k + d_v),)``; ``W_o`` of shape ``(d, H d_v)``; ``b_o`` of
        shape ``(d,)``. No biases without ``use_bias``.

    Notes
    -----
    **Initialization** as Keras's: glorot-uniform kernels with Keras's fans of its einsum kernels
    (``(d, H, d_k)`` for the query and key kernels: limit :math:`\sqrt{6/(d H + d\,d_k)}`; ``(d, H,
    d_v)`` for the value kernel; ``(H, d_v, d)`` for the output kernel: :math:`\sqrt{6/(H d_v + H d)}`),
    zero biases.

    **Keras's weights.** Keras keeps ``query/kernel`` of shape ``(d, H, d_k)`` and
    ``query/bias`` of shape ``(H, d_k)`` (likewise key and value) and
    ``attention_output/kernel`` of shape ``(H, d_v, d)``. Here
    ``W_qkv = concatenate([k.reshape(d, -1).T for k in (query, key, value kernels)])``,
    ``b_qkv`` the biases raveled and concatenated, ``W_o = output_kernel.reshape(-1, d).T``.

    **PyTorch's weights.** ``torch.nn.MultiheadAttention(d, H, batch_first=True)`` has
    :math:`d_k = d_v = d/H` and stores ``in_proj_weight`` of shape ``(3d, d)`` (rows: queries,
    keys, values, head after head), ``in_proj_bias``, ``out_proj.weight`` and ``out_proj.bias``:
    exactly ``W_qkv``, ``b_qkv``, ``W_o``, ``b_o`` (its ``attn_mask`` has True = masked, the
    opposite of ours).

    Examples
    --------
    >>> layer = MultiHeadAttention(num_heads=2, key_dim=3, seed=0)
    >>> X = np.random.default_rng(0).normal(size=(4, 5, 8))  # 4 sequences of 5 positions, width 8
    >>> layer.forward(X).shape, layer.count_params()
    ((4, 5, 8), 218)
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        use_bias: bool = True,
        causal: bool = False,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.num_heads = check_size(num_heads, "num_heads")
        self.key_dim = check_size(key_dim, "key_dim")
        self.value_dim = self.key_dim if value_dim is None else check_size(value_dim, "value_dim")
        self.use_bias = check_bool(use_bias, "use_bias")
        self.causal = check_bool(causal, "causal")
        self.seed = None if seed is None else check_int(seed, "seed", 0)
        H, dk, dv = self.num_heads, self.key_dim, self.value_dim
        self._in = Dense(H * (2 * dk + dv), use_bias=self.use_bias)  # shares this layer's arrays (see _sync)
        self._out: Dense | None = None  # its width is the input's, known at build

    # -- shapes ---------------------------------------------------------------------------------

    def compute_output_dim(self, n_in: int) -> int:
        """The input width ``n_in``: the output projection returns to it."""
        return check_size(n_in, "n_in")

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """``W_qkv``, ``b_qkv``, ``W_o``, ``b_o`` for inputs of width ``n_in`` (no biases without ``use_bias``)."""
        d = check_size(n_in, "n_in")
        F = self.num_heads * (2 * self.key_dim + self.value_dim)
        shapes: dict[str, tuple[int, ...]] = {
            "W_qkv": (F, d),
            "b_qkv": (F,),
            "W_o": (d, self.num_heads * self.value_dim),
            "b_o": (d,),
        }
        if not self.use_bias:
            del shapes["b_qkv"], shapes["b_o"]
        return shapes

    def params_for_width(self, n_in: int | None) -> int | None:
        r""":math:`H(2d_k + d_v)(d + 1) + d(H d_v + 1)` for width :math:`d` (without the ``+ 1`` s if no bias)."""
        if n_in is None:
            return self.count_params() if self.built else None
        shapes = self.param_shapes(n_in) or {}
        return sum(int(np.prod(s)) for s in shapes.values())

    def _build(self, n_in: int, rng: np.random.Generator | None, dtype: np.dtype) -> None:
        if self.seed is not None or rng is None:
            rng = as_generator(self.seed)
        H, dk, dv, d = self.num_heads, self.key_dim, self.value_dim, n_in
        # Keras's query, key and value kernels (d, H, size) have fan_in = d H and fan_out = d size
        W_qkv = np.concatenate([_glorot(d * H, d * size, (H * size, d), rng) for size in (dk, dk, dv)])
        W_o = _glorot(H * dv, H * d, (d, H * dv), rng)  # Keras's (H, d_v, d): fan_in = H d_v, fan_out = H d
        shapes = self.param_shapes(d) or {}
        values = {"W_qkv": W_qkv, "W_o": W_o}  # the biases start at zero
        self.params = {key: values.get(key, np.zeros(shape)).astype(dtype) for key, shape in shapes.items()}
        self.grads = {key: np.zeros_like(p) for key, p in self.params.items()}
        self._out = Dense(d, use_bias=self.use_bias)

    # -- the two Dense layers that share this layer's arrays ------------------------------------

    def _sync(self) -> tuple[Dense, Dense]:
        """Point the projections at this layer's current arrays (a model may have replaced them by views)."""
        if self._out is None:
            raise RuntimeError("call MultiHeadAttention.build(n_in) before using the layer")
        for dense, suffix in ((self._in, "qkv"), (self._out, "o")):
            keys = [("W", f"W_{suffix}")] + ([("b", f"b_{suffix}")] if self.use_bias else [])
            dense.params = {k: self.params[name] for k, name in keys}
            dense.grads = {k: self.grads[name] for k, name in keys}
        return self._in, self._out

    def _split(self, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views ``Q, K, V`` of shape ``(..., m, H, T, d_h)`` of the projections ``P`` of shape ``(..., m, T, F)``."""
        H, dk, dv = self.num_heads, self.key_dim, self.value_dim
        lead = P.shape[:-1]
        cuts = (0, H * dk, 2 * H * dk, H * (2 * dk + dv))
        sizes = (dk, dk, dv)
        q, k, v = (
            P[..., a:b].reshape(*lead, H, size).swapaxes(-2, -3)
            for a, b, size in zip(cuts[:-1], cuts[1:], sizes, strict=True)
        )
        return q, k, v

    def _merge(self, heads: np.ndarray) -> np.ndarray:
        """The heads side by side: ``(..., m, H, T, d_v)`` to ``(..., m, T, H d_v)`` (one copy)."""
        moved = heads.swapaxes(-2, -3)
        return moved.reshape(*moved.shape[:-2], self.num_heads * self.value_dim)

    def _heads(self, C: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`_merge`, as a view: ``(..., m, T, H d_v)`` to ``(..., m, H, T, d_v)``."""
        return C.reshape(*C.shape[:-1], self.num_heads, self.value_dim).swapaxes(-2, -3)

    def _mask(self, T: int, dtype: np.dtype) -> np.ndarray | None:
        return _causal_bias(T, dtype) if self.causal else None

    def _check_sequences(self, X: np.ndarray) -> None:
        if X.ndim != 3:
            raise ValueError(
                f"X must be a 3-D array of shape (m, T, d) for MultiHeadAttention (m sequences of T positions); "
                f"got shape {X.shape}"
            )
        if self.n_in is not None and X.shape[-1] != self.n_in:  # (the width is known once built)
            raise features_error("MultiHeadAttention", X.shape[-1], self.n_in)

    # -- the protocol -----------------------------------------------------------------------------

    def _attend(self, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r""":math:`Q/\sqrt{d_k}`, :math:`K`, :math:`V` (heads split) and the weights :math:`A`, from the projections."""
        Q, K, V = self._split(P)
        Qs = Q * (1 / math.sqrt(self.key_dim))
        return Qs, K, V, _weights(Qs, K, self._mask(P.shape[-2], P.dtype))

    def call(self, X: np.ndarray) -> np.ndarray:
        r"""Forward: :math:`Y` from ``X`` of shape ``(m, T, d)``; caches :math:`Q/\sqrt{d_k}, K, V, A`."""
        self._check_sequences(X)
        proj_in, proj_out = self._sync()
        Qs, K, V, A = self._attend(proj_in.call(X))
        self._cache = (Qs, K, V, A)
        return proj_out.call(self._merge(A @ V))

    def attention_scores(self, X: np.ndarray) -> np.ndarray:
        r"""The attention weights of every head for ``X``: :math:`A` of shape ``(m, H, T, T)``.

        For sample :math:`s` and head :math:`h`, with the layer's current weights,

        .. math::

            A_{s,h} = \operatorname{softmax}\Bigl(\frac{Q_{s,h} K_{s,h}^\top}{\sqrt{d_k}} + M\Bigr),
            \qquad [Q, K, V] = XW_{qkv}^\top + \mathbf{1}b_{qkv}^\top \text{ split into heads},

        row by row: entry :math:`(i, j)` is how much position :math:`i` takes of the value at
        position :math:`j`; each row sums to 1 and, with ``causal``, the entries above the diagonal
        are exactly 0. Keras returns the same array beside the output with
        ``return_attention_scores=True``; PyTorch's ``nn.MultiheadAttention`` with
        ``need_weights=True, average_attn_weights=False``.

        Computed afresh from ``X`` (not read from the last forward pass), and the layer's caches
        are left alone, so it can be called between ``forward`` and ``backward``. An unbuilt layer
        is built for ``X``, as :meth:`forward` builds it.

        Parameters
        ----------
        X : array_like of shape (m, T, d)
            Finite sequences of the layer's width ``d``.

        Returns
        -------
        numpy.ndarray of shape (m, H, T, T)
            In the layer's dtype.

        Raises
        ------
        ValueError
            For ``X`` that is not 3-D, of another width, empty or not finite.
        TypeError
            For ``X`` that is not an array of real numbers.

        Examples
        --------
        >>> layer = MultiHeadAttention(num_heads=2, key_dim=3, causal=True, seed=0)
        >>> A = layer.attention_scores(np.random.default_rng(0).normal(size=(4, 5, 8)))
        >>> A.shape, bool(np.allclose(A.sum(axis=-1), 1.0)), bool((np.triu(A, k=1) == 0).all())
        ((4, 2, 5, 5), True, True)
        """
        X = as_batch(X, "X")
        self._check_sequences(X)
        if not self.built:
            self.build(X.shape[-1], None, X.dtype)
        X = X.astype(self.dtype, copy=False)
        P = X @ self.params["W_qkv"].T
        if self.use_bias:
            P += self.params["b_qkv"]
        return self._attend(P)[3]

    def backprop(self, dA: np.ndarray, input_grad: bool) -> np.ndarray | None:
        r"""Backward: the output projection's rule, then the module's :math:`dQ, dK, dV`, then the input projection's.

        ``dQ``, ``dK``, ``dV`` are written straight into the columns of :math:`dP` (no
        concatenation), and :math:`dW_{qkv} = dP^\top X` is one product over all samples and positions.
        """
        Qs, K, V, A = self._cached()
        proj_in, proj_out = self._sync()
        dO = self._heads(proj_out.backprop(dA, True))  # type: ignore[arg-type]
        dP = np.empty((*dA.shape[:-1], proj_in.units), dtype=dA.dtype)
        _backward(dO, Qs, K, V, A, 1 / math.sqrt(self.key_dim), out=self._split(dP))
        return proj_in.backprop(dP, input_grad)

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        Qs = self._cached()[0]  # (m, H, T, d_k)
        return (Qs.shape[0], Qs.shape[2], self.params["W_o"].shape[0])

    def hvp_unsupported_reason(self) -> str | None:
        return None

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        r"""Forward pass with its directional derivative; ``XX = [X, R{X}]`` or ``[X]``.

        The projections carry their R-parts by chapter 5's Dense rule; through the attention
        (product rule, and the softmax's :math:`R\{A\} = A \odot (R\{S\} - (A \odot R\{S\})\mathbf{1}\mathbf{1}^\top)`):

        .. math::

            R\{S\} = \frac{R\{Q\}K^\top + Q\,R\{K\}^\top}{\sqrt{d_k}}, \qquad R\{O\} = R\{A\}V + A\,R\{V\}.
        """
        self._check_sequences(XX[0])
        proj_in, proj_out = self._sync()
        PP = proj_in.r_call(XX, self._part(V, "qkv"))
        (Q, K, Vv), (RQ, RK, RV) = self._split(PP[0]), self._split(PP[1])
        scale = 1 / math.sqrt(self.key_dim)
        Qs, RQs = Q * scale, RQ * scale
        A = _weights(Qs, K, self._mask(XX.shape[2], XX.dtype))
        RS = RQs @ K.swapaxes(-1, -2)
        RS += Qs @ RK.swapaxes(-1, -2)
        RA = SOFTMAX.r_forward(RS, A, RS)[0]  # softmax's rule reads only A and R{S}
        OO = np.empty((2, *A.shape[:-1], self.value_dim), dtype=A.dtype)
        np.matmul(A, Vv, out=OO[0])
        np.matmul(RA, Vv, out=OO[1])
        OO[1] += A @ RV
        self._cache = (Qs, K, Vv, A)
        self._r_cache = (RQs, RK, RV, RA)
        return proj_out.r_call(self._merge(OO), self._part(V, "o"))

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        r"""Backward pass with its directional derivative: ``[R{dX}, dX]`` from ``[R{dY}, dY]``.

        Writes :math:`R\{\partial L/\partial\theta\}` into the arrays of ``out``.

        The product rule on each formula of the backward pass (chapter 5), with the softmax's own
        R-rule (:class:`mlmath.activations.ActivationFunction` ``r_backward``) for :math:`R\{dS\}`:

        .. math::

            R\{dV\} &= R\{A\}^\top dO + A^\top R\{dO\}, \qquad
            R\{dA\} = R\{dO\}V^\top + dO\,R\{V\}^\top, \\
            R\{dQ\} &= \frac{R\{dS\}K + dS\,R\{K\}}{\sqrt{d_k}}, \qquad
            R\{dK\} = \frac{R\{dS\}^\top Q + dS^\top R\{Q\}}{\sqrt{d_k}}.
        """
        Qs, K, Vv, A = self._cached()
        RQs, RK, RV, RA = self._r_cached()
        proj_in, proj_out = self._sync()
        DO = self._heads(proj_out.r_backprop(GG, self._part(V, "o"), True, self._part(out, "o")))  # type: ignore[arg-type]
        RdO, dO = DO[0], DO[1]
        SS = np.empty((2, *A.shape), dtype=A.dtype)  # [R{dA}, dA], then [R{dS}, dS] in place
        np.matmul(RdO, Vv.swapaxes(-1, -2), out=SS[0])
        SS[0] += dO @ RV.swapaxes(-1, -2)
        np.matmul(dO, Vv.swapaxes(-1, -2), out=SS[1])
        RdS, dS = SOFTMAX.r_backward(A, A, A, RA, None, SS)  # softmax's rule reads only A, R{A} and SS
        scale = 1 / math.sqrt(self.key_dim)
        DP = np.empty((2, *GG.shape[1:-1], proj_in.units), dtype=GG.dtype)  # [R{dP}, dP], filled head by head
        (RdQ, RdK, RdV), (dQ, dK, dV) = self._split(DP[0]), self._split(DP[1])
        At = A.swapaxes(-1, -2)
        np.matmul(At, dO, out=dV)
        np.matmul(RA.swapaxes(-1, -2), dO, out=RdV)
        RdV += At @ RdO
        np.matmul(dS, K, out=dQ)
        dQ *= scale
        np.matmul(RdS, K, out=RdQ)
        RdQ += dS @ RK
        RdQ *= scale
        dSt, RdSt = dS.swapaxes(-1, -2), RdS.swapaxes(-1, -2)
        np.matmul(dSt, Qs, out=dK)
        np.matmul(RdSt, Qs, out=RdK)
        RdK += dSt @ RQs
        return proj_in.r_backprop(DP, self._part(V, "qkv"), input_grad, self._part(out, "qkv"))

    def _part(self, arrays: dict[str, np.ndarray], suffix: str) -> dict[str, np.ndarray]:
        """One projection's share of a dict keyed like ``params``, under the Dense names ``W`` and ``b``."""
        return {key[0]: value for key, value in arrays.items() if key.endswith(f"_{suffix}")}

    def clear_r_cache(self) -> None:
        """Drop what the last :meth:`r_call` kept, here and in the two projections."""
        super().clear_r_cache()
        self._in.clear_r_cache()
        if self._out is not None:
            self._out.clear_r_cache()

    def __repr__(self) -> str:
        extra = "" if self.value_dim == self.key_dim else f", value_dim={self.value_dim}"
        extra += "" if self.use_bias else ", use_bias=False"
        extra += ", causal=True" if self.causal else ""
        return f"MultiHeadAttention(num_heads={self.num_heads}, key_dim={self.key_dim}{extra})"

r"""Normalization layers: :class:`LayerNormalization` (each row) and :class:`BatchNormalization` (over the batch).

Keras's names; ``LayerNorm`` and ``BatchNorm`` are aliases of the two classes (the same
objects), and both names can also be imported from :mod:`mlmath.layers`.

Derived in chapter 8. Both standardize and then rescale, with learned ``gamma`` (scale) and
``beta`` (shift) of shape ``(n,)``, ``n`` the width (the last axis of the input):

.. math::

    \hat x = \frac{x - \mu}{\sigma}, \qquad \sigma = \sqrt{v + \epsilon}, \qquad
    a = \gamma \odot \hat x + \beta,

where :math:`\mu` and :math:`v` are the mean and the (biased) variance taken **along a row**
(the ``n`` features of one sample at one position) for LayerNorm, and **down a column** (one
feature over the ``N`` rows of the batch, all samples and positions) for BatchNorm in
training mode. The backward pass is the same formula with the mean taken along that axis:

.. math::

    dX = \frac{1}{\sigma}\Big(g - \overline{g} - \hat x \odot \overline{g \odot \hat x}\Big),
    \qquad g = \gamma \odot dA,

the overline a mean along the normalized axis. The Jacobian :math:`\partial\hat x/\partial x =
\frac{1}{\sigma}\big(I - \frac{1}{k}\mathbf{1}\mathbf{1}^\top - \frac{1}{k}\hat x\hat x^\top\big)`
(``k`` entries normalized together) is symmetric, so the same projection also gives the
R-operator of the forward pass. The layers follow the protocol of :mod:`mlmath.layers`, in the
stacked ``(2, ...)`` convention of its R-operator rules.

Each layer keeps :math:`\hat x` and one work array between calls (a batch's worth of memory
each), so that a step allocates only the arrays it returns.

Batch normalization is due to Ioffe and Szegedy (2015), layer normalization to Ba, Kiros and
Hinton (2016); the bibliography of the book lists them.
"""

from __future__ import annotations

import numpy as np

from mlmath._validation import check_bool, check_in_range, check_positive, check_size
from mlmath.layers import Layer

__all__ = ["BatchNorm", "BatchNormalization", "LayerNorm", "LayerNormalization"]


# ---------------------------------------------------------------------------
# the shared kernels, on 2-D views (N, n): axis=1 for LayerNorm, axis=0 for BatchNorm
# ---------------------------------------------------------------------------


def _mean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean along ``axis`` (keepdims), as a matrix-vector product (several times faster than ``a.mean``)."""
    k = a.shape[axis]
    w = np.full(k, 1.0 / k, dtype=a.dtype)
    return (a @ w)[:, None] if axis == 1 else (w @ a)[None, :]


def _column_sums(a: np.ndarray, out: np.ndarray) -> None:
    """The sums of the columns of ``a`` into ``out`` (a matrix-vector product)."""
    np.matmul(np.ones(a.shape[0], dtype=a.dtype), a, out=out)


def _dot_mean(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    """Mean of ``a * b`` along ``axis`` (keepdims), in one pass without a temporary."""
    k = a.shape[axis]
    if axis == 1:
        return (np.einsum("ij,ij->i", a, b) / k)[:, None]
    return (np.einsum("ij,ij->j", a, b) / k)[None, :]


def _normalize(
    X2: np.ndarray, axis: int, epsilon: float, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""``x̂``, :math:`1/\sigma`, :math:`\mu` and :math:`v` (biased) along ``axis``; ``x̂`` in ``out`` or a new array."""
    mu = _mean(X2, axis)
    xhat = np.subtract(X2, mu, out=out)
    var = _dot_mean(xhat, xhat, axis)
    rstd = 1.0 / np.sqrt(var + epsilon)
    xhat *= rstd
    return xhat, rstd, mu, var


def _project(g: np.ndarray, xhat: np.ndarray, axis: int, c: np.ndarray | None = None) -> np.ndarray:
    r""":math:`g - \overline{g} - \hat x \odot c` (a new array), :math:`c = \overline{g \odot \hat x}` unless given."""
    if c is None:
        c = _dot_mean(g, xhat, axis)
    out = g - _mean(g, axis)
    out -= xhat * c
    return out


def _scaled_projection(
    g: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, axis: int, scratch: np.ndarray | None = None
) -> np.ndarray:
    r""":math:`(g - \overline{g} - \hat x \odot \overline{g \odot \hat x})/\sigma`, computed in ``g`` (overwritten).

    The backward pass of both layers: four passes over ``g`` and two reductions; ``scratch``
    (an array shaped like ``g``, or ``None``) holds the one temporary.
    """
    c = _dot_mean(g, xhat, axis)
    mg = _mean(g, axis)
    g *= rstd
    c *= rstd
    mg *= rstd
    g -= np.multiply(xhat, c, out=scratch)
    g -= mg
    return g


def _affine(xhat: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None) -> np.ndarray:
    r""":math:`\gamma \odot \hat x + \beta` (a new array), each part only if the layer has it."""
    A = xhat * gamma if gamma is not None else xhat.copy()
    if beta is not None:
        A += beta
    return A


def _r_normalize(RX2: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`R\{\hat x\} = \frac{1}{\sigma}(R\{x\} - \overline{R\{x\}} - \hat x\odot s)` and ``s``.

    :math:`s = \overline{\hat x\odot R\{x\}}`.

    (:math:`R\{1/\sigma\} = -s/\sigma^2`: the variance moves by :math:`2\sigma\,s`.)
    """
    s = _dot_mean(xhat, RX2, axis)
    Rxhat = _project(RX2, xhat, axis, s)
    Rxhat *= rstd
    return Rxhat, s


def _r_project_back(
    g: np.ndarray,
    Rg: np.ndarray,
    dX: np.ndarray,
    xhat: np.ndarray,
    rstd: np.ndarray,
    Rxhat: np.ndarray | None,
    s: np.ndarray | None,
    axis: int,
) -> np.ndarray:
    r"""``R{dX}`` for :math:`dX = (g - \overline{g} - \hat x\odot c)/\sigma`, :math:`c = \overline{g\odot\hat x}`:

    .. math::

        R\{dX\} = -\frac{s}{\sigma}\,dX + \frac{1}{\sigma}\Big(R\{g\} - \overline{R\{g\}}
        - R\{\hat x\}\odot c - \hat x\odot R\{c\}\Big), \qquad
        R\{c\} = \overline{R\{g\}\odot\hat x + g\odot R\{\hat x\}}.
    """
    if Rxhat is None or s is None:  # R{x} = 0: only R{g} moves
        out = _project(Rg, xhat, axis)
        out *= rstd
        return out
    c = _dot_mean(g, xhat, axis)
    Rc = _dot_mean(Rg, xhat, axis) + _dot_mean(g, Rxhat, axis)
    out = Rg - _mean(Rg, axis)
    out -= Rxhat * c
    out -= xhat * Rc
    out *= rstd
    out -= dX * (s * rstd)
    return out


class _Normalization(Layer):
    """What the two layers share: ``gamma``/``beta``, their shapes, and the protocol's arithmetic.

    A subclass says only where its statistics come from (``_axis``, ``_standardize``); the forward,
    backward and R-operator passes are the same formulas for both.
    """

    def __init__(self, epsilon: float, center: bool, scale: bool, name: str | None) -> None:
        super().__init__(name)
        self.epsilon = check_positive(epsilon, "epsilon")
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self._buffers: dict[str, np.ndarray] = {}

    def compute_output_dim(self, n_in: int) -> int:
        """Same width as the input."""
        return check_size(n_in, "n_in")

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """``{"gamma": (n_in,), "beta": (n_in,)}`` (each only with ``scale`` / ``center``), built or not."""
        n_in = check_size(n_in, "n_in")
        if self.built:
            return super().param_shapes(n_in)
        return {key: (n_in,) for key, on in (("gamma", self.scale), ("beta", self.center)) if on}

    def params_for_width(self, n_in: int | None) -> int | None:
        """``n_in`` for each of ``gamma`` and ``beta`` the layer has (``None`` while the width is unknown)."""
        if self.built:
            return super().params_for_width(n_in)
        return None if n_in is None else check_size(n_in, "n_in") * (self.scale + self.center)

    def _build(self, n_in: int, rng: np.random.Generator | None, dtype: np.dtype) -> None:
        self.params, self.grads = {}, {}
        if self.scale:
            self.params["gamma"], self.grads["gamma"] = np.ones(n_in, dtype), np.zeros(n_in, dtype)
        if self.center:
            self.params["beta"], self.grads["beta"] = np.zeros(n_in, dtype), np.zeros(n_in, dtype)

    def hvp_unsupported_reason(self) -> str | None:
        return None

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        return self._cached()[0].shape

    def _buffer(self, key: str, like: np.ndarray) -> np.ndarray:
        """A work array shaped like ``like``, kept between calls: a batch's worth of memory is not
        allocated (and, for large arrays, faulted in from the system) again at every step."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self._buffers[key] = np.empty_like(like)
        return buf

    def _gamma_times(self, a: np.ndarray) -> np.ndarray:
        gamma = self.params.get("gamma")
        return a * gamma if gamma is not None else a.copy()

    def _param_grads(self, dA2: np.ndarray, xhat: np.ndarray, out: dict[str, np.ndarray]) -> None:
        r"""Into ``out``: :math:`d\gamma = \sum_{rows} dA \odot \hat x` and :math:`d\beta = \sum_{rows} dA`."""
        if "gamma" in out:
            np.einsum("ij,ij->j", dA2, xhat, out=out["gamma"])
        if "beta" in out:
            _column_sums(dA2, out["beta"])

    # -- what each layer defines: its statistics ----------------------------------------------------

    def _axis(self) -> int | None:
        """The axis of the 2-D views ``(N, n)`` along which the statistics are the input's own
        (1: each row's, 0: the batch's), or ``None`` for fixed statistics (an affine map)."""
        raise NotImplementedError

    def _standardize(self, X2: np.ndarray, out: np.ndarray | None, update: bool) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\hat x` (in ``out`` if given) and :math:`1/\sigma` for the rows ``X2``, in the current mode.

        Sets the mode that :meth:`_axis` reports; ``update`` allows the forward pass of training to
        update the layer's ``state``.
        """
        raise NotImplementedError

    # -- the protocol, the same arithmetic for both layers -------------------------------------------

    def call(self, X: np.ndarray) -> np.ndarray:
        r"""Forward: :math:`A = \gamma\odot\hat X + \beta`, :math:`\hat X` standardized; caches it and :math:`1/\sigma`.

        The statistics are those of the class's docstring: each row's own (LayerNormalization),
        the batch's in training mode (BatchNormalization, which then also updates its moving
        statistics in place), or the moving statistics in inference mode.
        """
        n = X.shape[-1]
        X2 = X.reshape(-1, n)
        xhat, rstd = self._standardize(X2, self._buffer("xhat", X2), True)  # the cache: reused
        A = _affine(xhat, self.params.get("gamma"), self.params.get("beta"))
        self._cache = (xhat.reshape(X.shape), rstd)
        return A.reshape(X.shape)

    def backprop(self, dA: np.ndarray, input_grad: bool) -> np.ndarray | None:
        r"""Backward in the mode of the last forward: fills ``grads``, returns ``dX``.

        .. math::

            dX = \frac{1}{\sigma}\Big(g - \overline{g} - \hat x\odot\overline{g\odot\hat x}\Big), \qquad
            g = \gamma\odot dA,

        the means along the normalized axis (each row's ``n`` entries, or the batch's rows, which
        the backward pass then couples); :math:`dX = g/\sigma` with fixed statistics.
        """
        xhat, rstd = self._cached()
        n = xhat.shape[-1]
        xhat2, dA2 = xhat.reshape(-1, n), dA.reshape(-1, n)
        self._param_grads(dA2, xhat2, self.grads)
        if not input_grad:
            return None
        g = self._gamma_times(dA2)
        axis = self._axis()
        if axis is None:
            g *= rstd
            return g.reshape(dA.shape)
        return _scaled_projection(g, xhat2, rstd, axis, self._buffer("scratch", g)).reshape(dA.shape)

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        r"""The stack ``[A, R{A}]`` from ``[X, R{X}]`` (the layer's ``state`` is not updated).

        .. math::

            R\{\hat x\} = \frac{1}{\sigma}\big(R\{x\} - \overline{R\{x\}} - \hat x\odot s\big),
            \quad s = \overline{\hat x\odot R\{x\}}, \qquad
            R\{a\} = R\{\gamma\}\odot\hat x + \gamma\odot R\{\hat x\} + R\{\beta\},

        the Jacobian's projection applied to :math:`R\{x\}` (and :math:`R\{\sigma\} = \sigma s`);
        :math:`R\{\hat x\} = R\{x\}/\sigma` with fixed statistics.
        """
        shape = XX.shape[1:]
        n = shape[-1]
        xhat, rstd = self._standardize(XX[0].reshape(-1, n), None, False)
        Rxhat, s = None, None
        if XX.shape[0] == 2:
            RX2, axis = XX[1].reshape(-1, n), self._axis()
            Rxhat, s = _r_normalize(RX2, xhat, rstd, axis) if axis is not None else (RX2 * rstd, None)
        A = _affine(xhat, self.params.get("gamma"), self.params.get("beta"))
        AA = self._r_affine(xhat, Rxhat, V, A)
        self._cache, self._r_cache = (xhat.reshape(shape), rstd), (Rxhat, s)
        return AA.reshape(2, *shape)

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        r"""``[R{dX}, dX]`` from ``[R{dA}, dA]``; :math:`R\{d\gamma\}`, :math:`R\{d\beta\}` into ``out``.

        With :math:`c = \overline{g\odot\hat x}` and :math:`R\{g\} = R\{\gamma\}\odot dA + \gamma\odot R\{dA\}`:

        .. math::

            R\{dX\} = -\frac{s}{\sigma}dX + \frac{1}{\sigma}\Big(R\{g\} - \overline{R\{g\}}
            - R\{\hat x\}\odot c - \hat x\odot\overline{R\{g\}\odot\hat x + g\odot R\{\hat x\}}\Big),

        (:math:`R\{dX\} = R\{g\}/\sigma` with fixed statistics),
        :math:`R\{d\gamma\} = \sum_{rows} R\{dA\}\odot\hat x + dA\odot R\{\hat x\}`,
        :math:`R\{d\beta\} = \sum_{rows} R\{dA\}`.
        """
        xhat, rstd = self._cached()
        Rxhat, s = self._r_cached()
        n = xhat.shape[-1]
        xhat2, RdA2, dA2 = xhat.reshape(-1, n), GG[0].reshape(-1, n), GG[1].reshape(-1, n)
        self._r_param_grads(RdA2, dA2, xhat2, Rxhat, out)
        if not input_grad:
            return None
        g, Rg = self._r_g(RdA2, dA2, V)
        DD = np.empty((2, *xhat.shape), dtype=xhat.dtype)
        axis = self._axis()
        if axis is None:
            DD[0] = (Rg * rstd).reshape(xhat.shape)
            DD[1] = (g * rstd).reshape(xhat.shape)
            return DD
        dX = DD[1].reshape(-1, n)
        np.copyto(dX, g)
        _scaled_projection(dX, xhat2, rstd, axis)
        DD[0] = _r_project_back(g, Rg, dX, xhat2, rstd, Rxhat, s, axis).reshape(xhat.shape)
        return DD

    # -- helpers ------------------------------------------------------------------------------------

    def _r_affine(
        self, xhat: np.ndarray, Rxhat: np.ndarray | None, V: dict[str, np.ndarray], A: np.ndarray
    ) -> np.ndarray:
        r"""The stack ``[A, R{A}]``, :math:`R\{A\} = R\{\gamma\}\odot\hat x + \gamma\odot R\{\hat x\} + R\{\beta\}`."""
        AA = np.empty((2, *A.shape), dtype=A.dtype)
        AA[0] = A
        RA = AA[1]
        if "gamma" in V:
            np.multiply(xhat, V["gamma"], out=RA)
        else:
            RA[...] = 0
        if Rxhat is not None:
            RA += self._gamma_times(Rxhat)
        if "beta" in V:
            RA += V["beta"]
        return AA

    def _r_param_grads(
        self, RdA2: np.ndarray, dA2: np.ndarray, xhat: np.ndarray, Rxhat: np.ndarray | None, out: dict[str, np.ndarray]
    ) -> None:
        r""":math:`R\{d\gamma\} = \sum R\{dA\}\odot\hat x + dA\odot R\{\hat x\}`, :math:`R\{d\beta\} = \sum R\{dA\}`."""
        if "gamma" in out:
            np.einsum("ij,ij->j", RdA2, xhat, out=out["gamma"])
            if Rxhat is not None:
                out["gamma"] += np.einsum("ij,ij->j", dA2, Rxhat)
        if "beta" in out:
            _column_sums(RdA2, out["beta"])

    def _r_g(self, RdA2: np.ndarray, dA2: np.ndarray, V: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`g = \gamma\odot dA` and :math:`R\{g\} = R\{\gamma\}\odot dA + \gamma\odot R\{dA\}`."""
        g, Rg = self._gamma_times(dA2), self._gamma_times(RdA2)
        if "gamma" in V:
            Rg += dA2 * V["gamma"]
        return g, Rg


# ---------------------------------------------------------------------------
# LayerNormalization
# ---------------------------------------------------------------------------


class LayerNormalization(_Normalization):
    r"""Layer normalization: each row (one sample at one position) standardized over its ``n`` features.

    Keras's ``LayerNormalization(axis=-1, epsilon=1e-3, center=True, scale=True)``, also available
    under the short name ``LayerNorm`` (an alias: the same class); derived in chapter 8. For a row
    :math:`x \in \mathbb{R}^n` of ``X`` (of shape ``(m, n)`` or ``(m, T, n)``):

    .. math::

        \mu = \frac{1}{n}\sum_i x_i, \qquad v = \frac{1}{n}\sum_i (x_i - \mu)^2, \qquad
        \hat x = \frac{x - \mu}{\sqrt{v + \epsilon}}, \qquad a = \gamma \odot \hat x + \beta.

    The statistics are the row's own, so training and inference compute the same function and
    the rows of a batch do not interact.

    Parameters
    ----------
    epsilon : float > 0, default 1e-3
        Added to the variance (Keras's default; PyTorch's ``nn.LayerNorm`` uses ``eps=1e-5``:
        pass ``epsilon=1e-5`` to compute the same function).
    center : bool, default True
        Learn the shift ``beta`` (zeros at first); PyTorch's ``bias=True``.
    scale : bool, default True
        Learn the scale ``gamma`` (ones at first); PyTorch's ``elementwise_affine=True``
        (PyTorch's ``weight`` is ``gamma``, its ``bias`` is ``beta``).
    name : str, optional

    Attributes
    ----------
    params : dict
        ``{"gamma": (n,), "beta": (n,)}`` once built (each only if ``scale`` / ``center``).
    grads : dict
        Same keys and shapes: :math:`\partial L/\partial\gamma = \sum_{rows} dA\odot\hat x`,
        :math:`\partial L/\partial\beta = \sum_{rows} dA`.

    Notes
    -----
    **The Jacobian is a projection.** Per row, with :math:`\sigma = \sqrt{v + \epsilon}`,

    .. math::

        \frac{\partial \hat x}{\partial x} = \frac{1}{\sigma}\Big(I - \frac{1}{n}\mathbf{1}\mathbf{1}^\top
        - \frac{1}{n}\hat x\hat x^\top\Big):

    it removes the mean and the component along :math:`\hat x` (the two directions that cannot
    change :math:`\hat x`; :math:`\hat x^\top\hat x = n\,v/(v + \epsilon)`, so it is a projection up
    to :math:`\epsilon`), then rescales by :math:`1/\sigma`. The matrix is symmetric, so the
    backward pass applies the same map to :math:`g = \gamma\odot dA`, row by row:

    .. math::

        dX = \frac{1}{\sigma}\Big(g - \overline{g} - \hat x\odot\overline{g\odot\hat x}\Big),

    the overline a mean over the row's ``n`` entries: a few passes over memory, no ``n × n``
    matrix. Derived in chapter 8; the R-operator rules (:meth:`r_call`, :meth:`r_backprop`)
    differentiate these formulas once more for the exact Hessian-vector product.

    Examples
    --------
    >>> layer = LayerNormalization(epsilon=1e-12)
    >>> A = layer.forward(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]]))
    >>> np.round(A, 4)
    array([[-1.2247,  0.    ,  1.2247],
           [-0.7071, -0.7071,  1.4142]])
    >>> np.round(layer.backward(np.ones((2, 3))), 12)  # the Jacobian removes the mean: J 1 = 0
    array([[0., 0., 0.],
           [0., 0., 0.]])
    """

    def __init__(self, epsilon: float = 1e-3, center: bool = True, scale: bool = True, name: str | None = None) -> None:
        super().__init__(epsilon, center, scale, name)

    def _axis(self) -> int | None:
        return 1

    def _standardize(self, X2: np.ndarray, out: np.ndarray | None, update: bool) -> tuple[np.ndarray, np.ndarray]:
        xhat, rstd, _, _ = _normalize(X2, 1, self.epsilon, out)
        return xhat, rstd

    def __repr__(self) -> str:
        return f"LayerNormalization(epsilon={self.epsilon!r})"


# ---------------------------------------------------------------------------
# BatchNormalization
# ---------------------------------------------------------------------------


class BatchNormalization(_Normalization):
    r"""Batch normalization: each feature standardized over the batch (every axis but the last).

    Keras's ``BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True)``,
    also available under the short name ``BatchNorm`` (an alias: the same class); derived in
    chapter 8. ``X`` of shape ``(m, n)`` or ``(m, T, n)`` is seen as :math:`N` rows
    (:math:`N = m` or :math:`mT`) of ``n`` features.

    **Training mode** (``layer.training``, set by :meth:`mlmath.models.Sequential.fit` for its
    training steps only): feature :math:`j` is standardized with the batch's mean
    :math:`\mu_j` and biased variance :math:`v_j = \frac{1}{N}\sum_r (x_{rj} - \mu_j)^2`, and the
    moving statistics in ``state`` are updated in place, as Keras does:

    .. math::

        \text{moving\_mean} \leftarrow \rho\,\text{moving\_mean} + (1 - \rho)\,\mu, \qquad
        \text{moving\_variance} \leftarrow \rho\,\text{moving\_variance} + (1 - \rho)\,v,

    :math:`\rho` = ``momentum``. **Inference mode** (otherwise: ``predict``, ``evaluate``,
    validation, the exact HVP): the moving statistics replace :math:`\mu, v`, and the layer is
    the affine map :math:`a = \gamma\odot(x - \text{moving\_mean})/\sqrt{\text{moving\_variance} + \epsilon} + \beta`.

    Parameters
    ----------
    momentum : float in [0, 1], default 0.99
        :math:`\rho` above (Keras's convention). PyTorch's ``nn.BatchNorm1d(momentum=0.1)``
        writes the same update with its momentum as the weight of the **new** batch, so
        PyTorch's ``momentum`` is ``1 - momentum`` here; and PyTorch's ``running_var`` takes
        the **unbiased** batch variance :math:`\frac{N}{N-1}v`, where Keras and this layer take
        :math:`v` (both normalize the batch itself with :math:`v`).
    epsilon : float > 0, default 1e-3
        Added to the variance (PyTorch's default ``eps`` is 1e-5).
    center, scale : bool, default True
        Learn ``beta`` (zeros at first) and ``gamma`` (ones at first).
    name : str, optional

    Attributes
    ----------
    params, grads : dict
        ``{"gamma": (n,), "beta": (n,)}`` (each only if ``scale`` / ``center``).
    state : dict
        ``{"moving_mean": zeros (n,), "moving_variance": ones (n,)}`` once built: non-trainable,
        not in ``params`` nor in :meth:`~mlmath.models.LayerStack.get_weights`, listed by
        :attr:`~mlmath.models.LayerStack.non_trainable_weights` and restored by a failed ``fit``.

    Notes
    -----
    In training mode the backward pass couples the rows of the batch: every output depends on
    every row through :math:`\mu` and :math:`v`. It is LayerNorm's formula with the means taken
    down the columns (over the :math:`N` rows) instead of along the rows:

    .. math::

        dX = \frac{1}{\sigma}\Big(g - \overline{g} - \hat x\odot\overline{g\odot\hat x}\Big),
        \qquad g = \gamma\odot dA, \quad \overline{\,\cdot\,} = \text{mean over the batch}.

    In inference mode :math:`dX = \gamma\odot dA/\sigma`, rows independent. The R-operator
    rules cover both modes (the moving statistics are not updated by :meth:`r_call`).

    Examples
    --------
    >>> layer = BatchNormalization(epsilon=1e-12)
    >>> X = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> layer.training = True
    >>> np.round(layer.forward(X), 6)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> layer.state["moving_mean"], layer.state["moving_variance"]  # 0.99 * (0, 1) + 0.01 * (mean, variance)
    (array([0.02, 0.2 ]), array([1.  , 1.99]))
    """

    def __init__(
        self,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(epsilon, center, scale, name)
        self.momentum = check_in_range(momentum, "momentum", 0.0, 1.0, high_inclusive=True)
        self._batch_stats = False  # the mode of the last forward pass

    def _build(self, n_in: int, rng: np.random.Generator | None, dtype: np.dtype) -> None:
        super()._build(n_in, rng, dtype)
        self.state = {"moving_mean": np.zeros(n_in, dtype), "moving_variance": np.ones(n_in, dtype)}

    def _axis(self) -> int | None:
        return 0 if self._batch_stats else None

    def _standardize(self, X2: np.ndarray, out: np.ndarray | None, update: bool) -> tuple[np.ndarray, np.ndarray]:
        """In training mode the batch's statistics (and, with ``update``, the moving ones updated in
        place, as Keras does); otherwise the moving statistics, untouched."""
        self._batch_stats = bool(self.training)
        if not self._batch_stats:
            rstd = (1.0 / np.sqrt(self.state["moving_variance"] + self.epsilon))[None, :]
            xhat = np.subtract(X2, self.state["moving_mean"], out=out)
            xhat *= rstd
            return xhat, rstd
        xhat, rstd, mu, var = _normalize(X2, 0, self.epsilon, out)
        if update:
            rho = self.momentum
            for key, batch in (("moving_mean", mu[0]), ("moving_variance", var[0])):
                moving = self.state[key]
                moving *= rho
                moving += (1.0 - rho) * batch
        return xhat, rstd

    def __repr__(self) -> str:
        return f"BatchNormalization(momentum={self.momentum!r}, epsilon={self.epsilon!r})"


#: The short name of :class:`LayerNormalization` (the same class).
LayerNorm = LayerNormalization
#: The short name of :class:`BatchNormalization` (the same class).
BatchNorm = BatchNormalization

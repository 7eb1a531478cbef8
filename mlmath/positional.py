r"""Position encodings: what tells attention where in the sequence each token sits.

Derived in chapter 8. Attention alone is permutation-equivariant: permuting the positions of
its input permutes its output the same way, so it cannot tell order. Adding a vector that
depends on the position :math:`t` to every token breaks that symmetry. Both layers here add a
``(T, d)`` matrix to each sequence of a batch ``X`` of shape ``(m, T, d)``:

- :class:`SinusoidalPositionEncoding` adds the fixed :func:`sinusoidal_encoding` of
  Vaswani et al. (2017), no parameters;
- :class:`PositionEmbedding` adds a learned matrix :math:`E` (its first ``T`` rows), as
  keras-hub's ``PositionEmbedding``.

Their backward passes are the identity for ``X``; the learned one also gets
:math:`\partial L/\partial E_{t} = \sum_{k} \partial L/\partial A_{k t}`, the sum over the batch.
"""

from __future__ import annotations

import numpy as np

from mlmath._validation import as_generator, check_dtype, check_int, check_positive, check_size, lookup
from mlmath.initializers import draw
from mlmath.layers import Layer

__all__ = ["PositionEmbedding", "SinusoidalPositionEncoding", "sinusoidal_encoding"]


def _encoding(T: int, d: int, max_wavelength: float, dtype: np.dtype) -> np.ndarray:
    """The unchecked table of :func:`sinusoidal_encoding`."""
    t = np.arange(T, dtype=np.float64)[:, None]
    i = np.arange(d)
    angles = t * max_wavelength ** (-(i - i % 2) / d)  # (T, d): frequency 1 / wavelength^(2k/d) for columns 2k, 2k+1
    return np.where(i % 2 == 0, np.sin(angles), np.cos(angles)).astype(dtype)


def sinusoidal_encoding(T: int, d: int, max_wavelength: float = 10000.0, dtype: object = np.float64) -> np.ndarray:
    r"""The sinusoidal position encoding of Vaswani et al. (2017): a ``(T, d)`` matrix, one row per position.

    .. math::

        PE_{t,\,2k} = \sin\bigl(t / \lambda^{2k/d}\bigr), \qquad
        PE_{t,\,2k+1} = \cos\bigl(t / \lambda^{2k/d}\bigr),

    for positions :math:`t = 0, \dots, T - 1`, with :math:`\lambda` = ``max_wavelength``. Each
    pair of columns turns at its own frequency, so :math:`PE_{t + s}` is a fixed linear map of
    :math:`PE_t` (a block-diagonal rotation that depends on :math:`s` only); the wavelengths
    :math:`2\pi\lambda^{2k/d}` grow geometrically from :math:`2\pi` towards :math:`2\pi\lambda`.
    Derived in chapter 8. The same table as keras-hub's ``SinePositionEncoding``.

    Parameters
    ----------
    T : int >= 1
        Number of positions.
    d : int >= 1
        Width (an odd ``d`` ends with a sine column).
    max_wavelength : float > 0, default 10000.0
        :math:`\lambda`.
    dtype : float32 or float64, default float64

    Returns
    -------
    numpy.ndarray of shape (T, d)
        Entries in :math:`[-1, 1]`; row 0 alternates 0 and 1.

    Examples
    --------
    >>> np.round(sinusoidal_encoding(3, 4), 4)
    array([[ 0.    ,  1.    ,  0.    ,  1.    ],
           [ 0.8415,  0.5403,  0.01  ,  1.    ],
           [ 0.9093, -0.4161,  0.02  ,  0.9998]])
    """
    T = check_size(T, "T")
    d = check_size(d, "d")
    wavelength = check_positive(max_wavelength, "max_wavelength")
    return _encoding(T, d, wavelength, check_dtype(dtype))


def _check_sequences(layer: str, X: np.ndarray) -> None:
    if X.ndim != 3:
        raise ValueError(
            f"X must be a 3-D array of shape (m, T, d) for {layer} (m sequences of T positions); got shape {X.shape}"
        )


def _shape_token(shape: tuple[int, ...]) -> np.ndarray:
    """What the backward pass needs of the forward pass of an addition: the shape alone (a view, no memory)."""
    return np.broadcast_to(np.empty((), dtype=bool), shape)


class SinusoidalPositionEncoding(Layer):
    r"""Add the sinusoidal position encoding to each sequence of ``X`` (shape ``(m, T, d)``): :math:`A_k = X_k + PE`.

    No parameters; the backward pass is the identity, :math:`dX = dA`, and so is the R-operator:
    :math:`R\{A\} = R\{X\}`. Keras-hub's ``SinePositionEncoding`` returns the encoding alone
    (one adds it to the input); this layer adds it, so it can sit in a ``Sequential``.

    Parameters
    ----------
    max_wavelength : float > 0, default 10000.0
        :math:`\lambda` of :func:`sinusoidal_encoding`.
    name : str, optional

    Examples
    --------
    >>> layer = SinusoidalPositionEncoding()
    >>> np.round(layer.forward(np.zeros((1, 2, 2))), 4)
    array([[[0.    , 1.    ],
            [0.8415, 0.5403]]])
    """

    def __init__(self, max_wavelength: float = 10000.0, name: str | None = None) -> None:
        super().__init__(name)
        self.max_wavelength = check_positive(max_wavelength, "max_wavelength")

    def compute_output_dim(self, n_in: int) -> int:
        """Same width as the input."""
        return check_size(n_in, "n_in")

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """``{}``: the encoding is fixed."""
        check_size(n_in, "n_in")
        return {}

    def call(self, X: np.ndarray) -> np.ndarray:
        r""":math:`A = X + PE` (the table broadcast over the batch); caches the output's shape."""
        _check_sequences("SinusoidalPositionEncoding", X)
        A = X + _encoding(X.shape[1], X.shape[2], self.max_wavelength, X.dtype)
        self._cache = (_shape_token(A.shape),)
        return A

    def backprop(self, dA: np.ndarray, input_grad: bool) -> np.ndarray:
        """:math:`dX = dA`."""
        return dA

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        return self._cached()[0].shape

    def hvp_unsupported_reason(self) -> str | None:
        return None

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        r"""``[X + PE, R{X}]`` (``R{X} = 0`` when ``XX`` holds ``X`` alone)."""
        AA = np.zeros((2, *XX.shape[1:]), dtype=XX.dtype)
        AA[0] = self.call(XX[0])
        if XX.shape[0] == 2:
            AA[1] = XX[1]
        return AA

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray:
        r"""``[R{dX}, dX] = [R{dA}, dA]``: the identity."""
        return GG

    def __repr__(self) -> str:
        return "SinusoidalPositionEncoding()"


_INITIALIZERS = dict.fromkeys(("glorot_uniform", "he_uniform", "zeros", "ones"), True)


class PositionEmbedding(Layer):
    r"""Add a learned position embedding: :math:`A_{k} = X_{k} + E_{:T}` for ``X`` of shape ``(m, T, d)``.

    Keras-hub's ``PositionEmbedding`` (there called ``sequence_length``), but adding the
    embedding to the input rather than returning it. The parameter :math:`E` of shape
    ``(max_length, d)`` holds one row per position; a sequence of length :math:`T` uses the first
    :math:`T` rows. Backward: :math:`dX = dA`,
    :math:`dE_{t} = \sum_k dA_{k t}` for :math:`t < T` and :math:`dE_{t} = 0` beyond. The map is
    linear in :math:`(X, E)`, so the R-operator is :math:`R\{A\} = R\{X\} + R\{E\}_{:T}`,
    :math:`R\{dE\}_t = \sum_k R\{dA\}_{kt}`.

    Parameters
    ----------
    max_length : int >= 1
        The longest sequence the layer takes.
    initializer : {"glorot_uniform", "he_uniform", "zeros", "ones"}, default "glorot_uniform"
        How :math:`E` starts (keras-hub's default), drawn for the shape ``(max_length, d)``.
    seed : int, optional
        Seed of this layer's own generator (as in ``Dense``).
    name : str, optional

    Attributes
    ----------
    params : dict
        ``{"E": array of shape (max_length, d)}`` once built.

    Examples
    --------
    >>> layer = PositionEmbedding(max_length=4, initializer="ones")
    >>> layer.forward(np.zeros((2, 3, 5))).shape, layer.params["E"].shape
    ((2, 3, 5), (4, 5))
    """

    def __init__(
        self,
        max_length: int,
        initializer: str = "glorot_uniform",
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.max_length = check_size(max_length, "max_length")
        lookup(_INITIALIZERS, initializer, "initializer")
        self.initializer = initializer.lower()
        self.seed = None if seed is None else check_int(seed, "seed", 0)

    def compute_output_dim(self, n_in: int) -> int:
        """Same width as the input."""
        return check_size(n_in, "n_in")

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]] | None:
        """``{"E": (max_length, n_in)}``."""
        return {"E": (self.max_length, check_size(n_in, "n_in"))}

    def params_for_width(self, n_in: int | None) -> int | None:
        """``max_length * n_in``."""
        if n_in is None:
            return self.count_params() if self.built else None
        return self.max_length * check_size(n_in, "n_in")

    def _build(self, n_in: int, rng: np.random.Generator | None, dtype: np.dtype) -> None:
        if self.seed is not None or rng is None:
            rng = as_generator(self.seed)
        self.params = {"E": draw(self.initializer, (self.max_length, n_in), rng).astype(dtype)}
        self.grads = {"E": np.zeros((self.max_length, n_in), dtype)}

    def _check_length(self, X: np.ndarray) -> int:
        _check_sequences("PositionEmbedding", X)
        T = X.shape[1]
        if self.max_length < T:
            raise ValueError(
                f"X has sequences of length {T}, but PositionEmbedding(max_length={self.max_length}) has positions "
                f"for at most {self.max_length}; build it with max_length >= {T} or shorten the sequences"
            )
        return T

    def call(self, X: np.ndarray) -> np.ndarray:
        r""":math:`A = X + E_{:T}`, the first ``T`` rows broadcast over the batch."""
        T = self._check_length(X)
        self._cache = (_shape_token(X.shape),)
        return X + self.params["E"][:T]

    def backprop(self, dA: np.ndarray, input_grad: bool) -> np.ndarray | None:
        r""":math:`dE_{:T} = \sum_k dA_k`, :math:`dE_{T:} = 0`; returns :math:`dX = dA`."""
        T = dA.shape[1]
        dE = self.grads["E"]
        dA.sum(axis=0, out=dE[:T])
        dE[T:] = 0
        return dA if input_grad else None

    def _output_shape_of_cache(self) -> tuple[int, ...]:
        return self._cached()[0].shape

    def hvp_unsupported_reason(self) -> str | None:
        return None

    def r_call(self, XX: np.ndarray, V: dict[str, np.ndarray]) -> np.ndarray:
        r"""``[X + E_{:T}, R{X} + R{E}_{:T}]``."""
        T = self._check_length(XX[0])
        AA = np.empty((2, *XX.shape[1:]), dtype=XX.dtype)
        np.add(XX[0], self.params["E"][:T], out=AA[0])
        if XX.shape[0] == 2:
            np.add(XX[1], V["E"][:T], out=AA[1])
        else:
            AA[1] = V["E"][:T]
        self._cache = (_shape_token(XX.shape[1:]),)
        return AA

    def r_backprop(
        self, GG: np.ndarray, V: dict[str, np.ndarray], input_grad: bool, out: dict[str, np.ndarray]
    ) -> np.ndarray | None:
        r""":math:`R\{dE\}_{:T} = \sum_k R\{dA\}_k` into ``out["E"]``; returns ``[R{dX}, dX] = [R{dA}, dA]``."""
        T = GG.shape[2]
        GG[0].sum(axis=0, out=out["E"][:T])
        out["E"][T:] = 0
        return GG if input_grad else None

    def __repr__(self) -> str:
        return f"PositionEmbedding(max_length={self.max_length})"

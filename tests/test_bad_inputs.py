"""Every public callable answers bad input with a clear error.

For each module in ``TABLES``, a table maps every name of the module's public surface (each name
in ``__all__``, and each public method of its classes, as ``"Class.method"``) to one or more
valid calls, or says why it is not called: a constant, a method without arguments, or the
unchecked protocol of the hot path that the package documents as such (``Layer.call``,
``Loss.value_and_grad_unchecked``, ``Optimizer.apply_unchecked``, ...). Each argument of a
valid call is marked with its kind (an array, a count, a float hyper-parameter, ...), and bad
calls are derived from it: one argument at a time is replaced by each bad value of its kind.
A bad call must raise ``ValueError`` or ``TypeError`` whose message names the argument, emit no
warning, and leave every argument as it was (arrays unchanged, generators not advanced). A
method is called as ``Class.method(obj, ...)`` on a copy of a prepared object, so a refused call
must leave that object's whole state as it was too (weights, caches, optimizer state, its
generator). A bad value that is legitimately valid for one argument is listed in that
argument's ``allow``, and the call with it must then succeed.

To walk another module, write its table and add it to ``TABLES``.
"""

from __future__ import annotations

import copy
import inspect
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import pytest

import mlmath.activations as activations
import mlmath.attention as attention
import mlmath.calculus as calculus
import mlmath.curvature as curvature
import mlmath.data as data
import mlmath.gated as gated
import mlmath.initializers as initializers
import mlmath.kfac as kfac
import mlmath.krylov as krylov
import mlmath.layers as layers
import mlmath.lbfgs as lbfgs
import mlmath.linalg as linalg
import mlmath.losses as losses
import mlmath.models as models
import mlmath.normalization as normalization
import mlmath.optim as optim
import mlmath.positional as positional
import mlmath.residual as residual
import mlmath.rnn as rnn
import mlmath.second_order as second_order
import mlmath.tensor as tensor
import mlmath.training as training

# ---------------------------------------------------------------------------------------------
# kinds of argument and their bad values
# ---------------------------------------------------------------------------------------------

BadValues = Callable[[object], dict[str, object]]


def _array_bad(valid: object) -> dict[str, object]:
    arr = np.asarray(valid)

    def with_first(value: float) -> np.ndarray:
        out = arr.astype(np.float64)
        out.flat[0] = value
        return out

    return {
        "nan": with_first(np.nan),
        "inf": with_first(np.inf),
        "empty": np.empty((0,) * max(arr.ndim, 1)),
        "wrong_ndim": arr.reshape((1, 1, *arr.shape)).copy(),
        "string": "abc",
        "None": None,
        "ragged": [[1.0, 2.0], [3.0]],
        "complex": arr.astype(np.complex128),
    }


def _labels_bad(valid: object) -> dict[str, object]:
    arr = np.asarray(valid)

    def with_first(value: object, dtype: type) -> np.ndarray:
        out = arr.astype(dtype)
        out.flat[0] = value
        return out

    return {
        **_array_bad(valid),
        "fractional": with_first(0.5, np.float64),
        "negative": with_first(-1, np.int64),
        "huge_float": with_first(1e300, np.float64),
        "huge_uint64": with_first(2**64 - 1, np.uint64),
    }


def _arrays_bad(valid: object) -> dict[str, object]:
    arrays = list(valid)  # type: ignore[call-overload]
    first_nan = np.asarray(arrays[0], dtype=np.float64).copy()
    first_nan.flat[0] = np.nan
    return {
        "None": None,
        "string": "abc",
        "one_array": np.asarray(arrays[0]).copy(),
        "empty_list": [],
        "nan_entry": [first_nan, *arrays[1:]],
        "complex_entry": [np.asarray(arrays[0], dtype=np.complex128), *arrays[1:]],
    }


def _shape_bad(valid: object) -> dict[str, object]:
    s = tuple(valid)  # type: ignore[arg-type]
    return {
        "None": None,
        "string": "abc",
        "float_size": (*s[:-1], float(s[-1])),
        "negative_size": (-1, *s[1:]),
        "bool_size": (True, *s[1:]),
        "huge_size": (10**30, *s[1:]),
    }


def _matrix_shape_bad(valid: object) -> dict[str, object]:
    s = tuple(valid)  # type: ignore[arg-type]
    return {**_shape_bad(valid), "one_axis": s[:1], "three_axes": (*s, 1)}


def _names_bad(valid: object) -> dict[str, object]:
    names = tuple(valid)  # type: ignore[arg-type]
    return {"string": "".join(names), "too_few": names[:-1], "not_strings": tuple(range(len(names))), "int": 3}


def _layers_bad(valid: object) -> dict[str, object]:
    given = list(valid)  # type: ignore[call-overload]
    return {
        "None": None,
        "string": "abc",
        "int": 3,
        "one_layer": given[0],
        "not_layers": [3],
        "repeated": [given[0], given[0]],
    }


def _numbers_bad(valid: object) -> dict[str, object]:
    numbers = list(valid)  # type: ignore[call-overload]
    return {
        "None": None,
        "string": "abc",
        "scalar": float(numbers[0]),
        "0-d": np.array(numbers[0]),
        "2-d": np.array([numbers]),
        "nan_entry": [float("nan"), *numbers[1:]],
        "str_entry": ["1", *numbers[1:]],
        "too_short": numbers[:-1],
    }


def _pair_bad(valid: object) -> dict[str, object]:
    X, Y = valid  # type: ignore[misc]
    X_nan = np.array(X, dtype=np.float64)
    X_nan.flat[0] = np.nan
    return {
        "None": None,
        "string": "ab",
        "int": 3,
        "one_array": np.asarray(X).copy(),
        "triple": (X, Y, Y),
        "nan": (X_nan, Y),
        "ragged": (X, [[1.0, 2.0], [3.0]]),
    }


def _metrics_bad(valid: object) -> dict[str, object]:
    given = list(valid)  # type: ignore[call-overload]
    return {"None": None, "string": given[0], "int": 3, "unknown": ["mae"], "None_entry": [None], "repeated": given * 2}


def _state_bad(valid: object) -> dict[str, object]:
    """An optimizer's state, ``{"t": int, slot: array}`` (a step function's) or ``{"t": int, slot: [arrays]}``."""
    state = dict(valid)  # type: ignore[call-overload]
    slot = next(key for key in state if key != "t")

    def with_slot(make: Callable[[np.ndarray], np.ndarray]) -> dict[str, object]:
        value = state[slot]
        changed = [make(value[0]), *value[1:]] if isinstance(value, list) else make(value)
        return {**state, slot: changed}

    def with_nan(a: np.ndarray) -> np.ndarray:
        out = a.astype(np.float64)
        out.flat[0] = np.nan
        return out

    return {
        "None": None,
        "list": [state],
        "missing_slot": {k: v for k, v in state.items() if k != slot},
        "extra_key": {**state, "extra": 0},
        "negative_t": {**state, "t": -1},
        "float_t": {**state, "t": 1.5},
        "nan_slot": with_slot(with_nan),
        "int_slot": with_slot(lambda a: a.astype(np.int64)),
        "wrong_shape": with_slot(lambda a: a.reshape((1, 1, *a.shape))),
    }


def _fixed(values: dict[str, object]) -> BadValues:
    return lambda _valid: values


COUNT = _fixed({"2.5": 2.5, "-1": -1, "True": True, "str": "3", "None": None, "10**30": 10**30})
REAL = _fixed({"nan": float("nan"), "inf": float("inf"), "None": None, "str": "0.1"})
DTYPE = _fixed({"garbage": "garbage", "int32": np.int32})
FLAG = _fixed({"str": "no", "None": None, "int": 1})
CHOICE = _fixed({"garbage": "garbage", "None": None, "int": 3})
FUNCTION = _fixed({"None": None, "str": "f", "float": 3.0})
SEED = _fixed({"-1": -1, "2.5": 2.5, "True": True, "str": "3"})
TEXT = _fixed({"None": None, "int": 3})
GENERATOR = _fixed({"None": None, "int": 3, "str": "abc"})
OBJECT = _fixed({"None": None, "str": "abc", "int": 3})  # a layer, a loss, an optimizer
VERBOSE = _fixed({"3": 3, "-1": -1, "True": True, "str": "1", "None": None})
AXIS = _fixed({"2.5": 2.5, "True": True, "str": "0", "None": None, "out_of_range": 5})
STEP = _fixed(
    {"-1": -1, "2.5": 2.5, "True": True, "str": "3", "None": None, "nan": np.nan, "inf": np.inf, "complex": 1j}
)


@dataclass(frozen=True)
class Arg:
    """An argument of a valid call, with the bad values to put in its place.

    ``name`` is what error messages call it (default: the parameter's name); ``allow`` lists the
    labels of bad values that are legitimately valid here.
    """

    value: object
    bad: BadValues
    name: str | None = None
    allow: frozenset[str] = frozenset()


def _kind(bad: BadValues) -> Callable[..., Arg]:
    def make(value: object, name: str | None = None, *, allow: tuple[str, ...] = ()) -> Arg:
        return Arg(value, bad, name, frozenset(allow))

    return make


array = _kind(_array_bad)
arrays = _kind(_arrays_bad)
labels = _kind(_labels_bad)
shape = _kind(_shape_bad)
matrix_shape = _kind(_matrix_shape_bad)
names = _kind(_names_bad)
count = _kind(COUNT)
real = _kind(REAL)
dtype = _kind(DTYPE)
flag = _kind(FLAG)
choice = _kind(CHOICE)
function = _kind(FUNCTION)
seed = _kind(SEED)
text = _kind(TEXT)
generator = _kind(GENERATOR)
obj = _kind(OBJECT)
verbose = _kind(VERBOSE)
axis = _kind(AXIS)
step = _kind(STEP)
layer_list = _kind(_layers_bad)
numbers = _kind(_numbers_bad)
pair = _kind(_pair_bad)
metric_names = _kind(_metrics_bad)
state = _kind(_state_bad)


@dataclass(frozen=True)
class Call:
    """A valid call; arguments given as :class:`Arg` are walked, plain values are kept.

    ``updates`` marks a call that changes an argument by design (an optimizer step updates
    its parameters in place); a bad call must still leave every argument as it was.
    """

    label: str
    func: Callable[..., object]
    args: tuple[object, ...] = ()
    kwargs: dict[str, object] = field(default_factory=dict)
    updates: bool = False


def call(
    func: Callable[..., object], *args: object, label: str | None = None, updates: bool = False, **kwargs: object
) -> Call:
    return Call(label or func.__qualname__, func, args, kwargs, updates)


@dataclass(frozen=True)
class NotCalled:
    """A public name that takes no user input to check, and why."""

    reason: str


Table = dict[str, Call | list[Call] | NotCalled]

# ---------------------------------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------------------------------

RESULT_TYPE = NotCalled("a named tuple returned by the module, not built from user input")
CONSTANT = NotCalled("a constant, not a callable")
NO_ARGUMENT = NotCalled("takes no argument")
PROTOCOL = NotCalled(
    "the unchecked protocol of the hot path, documented as such: its callers check the inputs once, before it"
)

_X = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
_W = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
_B = np.array([0.5, -0.5])

LINALG: Table = {
    "AffineFlops": RESULT_TYPE,
    "AffineJacobians": RESULT_TYPE,
    "affine": [
        call(linalg.affine, array(_X), array(_W), array(_B), label="affine[batch]"),
        call(linalg.affine, array(_X[0]), array(_W), array(_B), label="affine[one sample]"),
    ],
    "affine_backward": [
        call(linalg.affine_backward, array(np.eye(2)), array(_X), array(_W), label="affine_backward[batch]"),
        call(linalg.affine_backward, array(_B), array(_X[0]), array(_W), label="affine_backward[one sample]"),
    ],
    "affine_jacobians": call(linalg.affine_jacobians, array(_X[0]), array(_W)),
    # a count of operations, exact in Python integers however large
    "affine_flops": call(
        linalg.affine_flops,
        count(20, allow=("10**30",)),
        count(64, allow=("10**30",)),
        batch=count(32, allow=("10**30",)),
    ),
    "vec": call(linalg.vec, array(_W, allow=("empty",))),  # vec of a 0 x 0 matrix is the empty vector
    "unvec": call(linalg.unvec, array(np.arange(6.0)), matrix_shape((2, 3))),
}

TENSOR: Table = {
    "batched_matmul": [
        call(tensor.batched_matmul, array(np.ones((2, 2, 3))), array(np.ones((2, 3, 1))), label="batched_matmul"),
        call(tensor.batched_matmul, array(_W), array(np.ones((4, 3, 1))), label="batched_matmul[shared A]"),
    ],
    "broadcast_shape": [
        call(tensor.broadcast_shape, shape((32, 1, 5), "shape 1"), shape((4, 1), "shape 2"), label="broadcast_shape"),
        call(
            tensor.broadcast_shape,
            shape((5,), "y_pred"),
            shape((5,), "y"),
            names=names(("y_pred", "y")),
            expected=shape((5,), allow=("None",)),
            label="broadcast_shape[expected]",
        ),
    ],
    "contract": call(
        tensor.contract,
        choice("batch in, out in -> batch out", "spec"),
        array(_X, "X"),
        array(_W, "W"),
        names=names(("X", "W")),
    ),
    "einsum_subscripts": call(tensor.einsum_subscripts, choice("batch in, out in -> batch out")),
    "explain_broadcast": call(
        tensor.explain_broadcast, shape((5,), "y_pred"), shape((5, 1), "y"), names=names(("y_pred", "y"))
    ),
    "kron_vec_product": [
        call(tensor.kron_vec_product, array(_W), array(_W.T), array(np.eye(3)), label="kron_vec_product"),
        call(tensor.kron_vec_product, array(_W), array(_W.T), array(np.ones(9)), label="kron_vec_product[vec X]"),
    ],
    "outer": [
        # the outer product of an empty vector with another is an empty matrix
        call(
            tensor.outer, array([1.0, 2.0], allow=("empty",)), array([3.0, 4.0, 5.0], allow=("empty",)), label="outer"
        ),
        call(tensor.outer, array(_X), array(_W), label="outer[batch]"),
    ],
}


def _sum_sin(x: np.ndarray) -> np.float64:
    return np.sum(np.sin(x))


_H = np.diag([1.0, -5.0, 3.0, 2.0])


def _times_h(v: np.ndarray) -> np.ndarray:
    return _H @ v


_POINT = np.array([0.1, 0.2, 0.3])
_ANY_POINT = ("empty", "wrong_ndim")  # derivatives at an empty or 3-D point have the matching shape
_STEP = real(1e-5, allow=("None",))  # None asks for the default step

CALCULUS: Table = {
    "GradientCheck": RESULT_TYPE,
    "jacobian": call(calculus.jacobian, function(np.sin), array(_POINT, allow=_ANY_POINT), choice("central"), _STEP),
    "gradient": call(calculus.gradient, function(_sum_sin), array(_POINT, allow=_ANY_POINT), choice("forward"), _STEP),
    "hessian": call(calculus.hessian, function(_sum_sin), array(_POINT, allow=_ANY_POINT), choice("central"), _STEP),
    "hvp": call(calculus.hvp, function(np.cos), array(_POINT), array(np.ones(3)), _STEP, choice("central")),
    "hessian_from_hvp": call(calculus.hessian_from_hvp, function(_times_h), count(4)),
    "top_eigenvalues": call(
        calculus.top_eigenvalues,
        function(_times_h),
        count(4),
        count(2),
        which=choice("LM"),
        iters=count(4, allow=("None", "10**30")),  # None: up to n products; more than n stop at n
        tol=real(1e-8),
        seed=seed(np.random.default_rng(0)),
    ),
    "gradient_check": call(
        calculus.gradient_check,
        function(_sum_sin),
        function(np.cos),
        array(_POINT, allow=("wrong_ndim",)),
        choice("central"),
        _STEP,
        real(1e-3, allow=("None",)),
    ),
}

DATA: Table = {
    "to_categorical": [
        # any shape of labels is one-hot encoded, and with num_classes given an empty y is fine
        call(
            data.to_categorical,
            labels([0, 2, 1], allow=("empty", "wrong_ndim")),
            count(3, allow=("None",)),
            dtype(np.float64),
        ),
        call(data.to_categorical, labels([0, 2, 1], allow=("wrong_ndim",)), label="to_categorical[num_classes=None]"),
    ],
    "train_validation_split": call(
        data.train_validation_split,
        array(np.arange(10.0).reshape(5, 2)),
        array(np.arange(5)),
        real(0.4),
    ),
    "random_classification": call(data.random_classification, count(4), count(2), count(3), seed=seed(0)),
    "spirals": call(data.spirals, count(5), count(3), real(0.2), seed=seed(0)),
    "blobs": call(data.blobs, count(5), count(3), count(2), real(1.0), seed=seed(np.random.default_rng(1))),
}

# --- activations ------------------------------------------------------------------------------

_Z = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
_ANY_SHAPE = ("empty", "wrong_ndim")  # elementwise functions take arrays of any shape
_PROBS = np.array([0.2, 0.3, 0.5])


def _softplus_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _softplus_second_derivative(z: np.ndarray, a: np.ndarray, d1: np.ndarray) -> np.ndarray:
    return d1 * (1 - d1)


def _elementwise(func: Callable[..., object]) -> Call:
    return call(func, array(_Z, allow=_ANY_SHAPE))


ACTIVATIONS: Table = {
    **dict.fromkeys(("LINEAR", "LOG_SOFTMAX", "RELU", "SIGMOID", "SOFTMAX", "TANH"), CONSTANT),
    "ActivationFunction": call(
        activations.ActivationFunction,
        text("softplus"),
        function(np.logaddexp.reduce),
        function(_softplus_derivative),
        function(_softplus_second_derivative, allow=("None",)),  # None: no second derivative known
    ),
    **dict.fromkeys(
        (
            f"ActivationFunction.{m}"
            for m in ("forward", "derivative", "backward", "curvature", "r_forward", "r_backward")
        ),
        PROTOCOL,
    ),
    "get": call(activations.get, choice("relu", "activation")),
    **{
        name: _elementwise(getattr(activations, name))
        for name in (
            "relu",
            "relu_derivative",
            "sigmoid",
            "sigmoid_derivative",
            "sigmoid_second_derivative",
            "tanh",
            "tanh_derivative",
            "tanh_second_derivative",
        )
    },
    # softmax acts along the last axis of any number of leading axes, which must not be empty
    "softmax": call(activations.softmax, array(_Z, allow=("wrong_ndim",))),
    "log_softmax": call(activations.log_softmax, array(_Z, allow=("wrong_ndim",))),
    "softmax_jacobian": call(activations.softmax_jacobian, array(_Z)),
    "softmax_jacobian_from_probs": call(activations.softmax_jacobian_from_probs, array(_PROBS)),
    "softmax_vjp": call(activations.softmax_vjp, array(_PROBS), array([1.0, 0.0, -1.0])),
    "log_softmax_vjp": call(activations.log_softmax_vjp, array(np.log(_PROBS)), array([1.0, 0.0, -1.0])),
}

# --- losses -----------------------------------------------------------------------------------

_Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
_P = np.array([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
_ANY_TARGETS = ("empty", "wrong_ndim")  # targets of any shape, or none, can suit a loss
_INFORMATION_P = np.array([[0.25, 0.25, 0.5], [1.0, 0.0, 0.0]])
_INFORMATION_Q = np.array([[0.5, 0.25, 0.25], [0.5, 0.5, 0.0]])


def _loss_pair(func: Callable[..., object], **kwargs: object) -> Call:
    return call(func, array(_Y), array(_P, "Z" if "logits" in func.__name__ else "P"), **kwargs)


LOSSES: Table = {
    "EPSILON": CONSTANT,
    "mean_squared_error": _loss_pair(losses.mean_squared_error),
    "categorical_crossentropy": _loss_pair(losses.categorical_crossentropy, epsilon=real(1e-7)),
    "categorical_crossentropy_from_logits": _loss_pair(losses.categorical_crossentropy_from_logits),
    "binary_crossentropy": _loss_pair(losses.binary_crossentropy, epsilon=real(1e-7)),
    "binary_crossentropy_from_logits": _loss_pair(losses.binary_crossentropy_from_logits),
    # a distribution per slice along the axis, of any number of axes
    "entropy": call(losses.entropy, array(_INFORMATION_P, allow=("wrong_ndim",)), axis(-1)),
    "cross_entropy": call(losses.cross_entropy, array(_INFORMATION_P), array(_INFORMATION_Q), axis(1)),
    "kl_divergence": call(losses.kl_divergence, array(_INFORMATION_P), array(_INFORMATION_Q), axis(-1)),
    "get": call(losses.get, choice("mse", "loss")),
    "Loss": call(losses.Loss),
    "Loss.__call__": call(losses.Loss.__call__, losses.MeanSquaredError(), array(_Y), array(_P)),
    "Loss.gradient": call(losses.Loss.gradient, losses.MeanSquaredError(), array(_Y), array(_P)),
    "Loss.value_and_grad": call(losses.Loss.value_and_grad, losses.MeanSquaredError(), array(_Y), array(_P)),
    "Loss.check_targets": call(losses.Loss.check_targets, losses.MeanSquaredError(), array(_Y, allow=_ANY_TARGETS)),
    "MeanSquaredError": call(losses.MeanSquaredError),
    "CategoricalCrossentropy": call(losses.CategoricalCrossentropy, flag(True)),
    "CategoricalCrossentropy.value_and_grad": [
        call(
            losses.CategoricalCrossentropy.value_and_grad,
            losses.CategoricalCrossentropy(from_logits),
            array(_Y),
            array(_P),
            label=f"CategoricalCrossentropy(from_logits={from_logits}).value_and_grad",
        )
        for from_logits in (False, True)
    ],
    "CategoricalCrossentropy.check_targets": call(
        losses.CategoricalCrossentropy.check_targets, losses.CategoricalCrossentropy(), array(_Y, allow=_ANY_TARGETS)
    ),
    "BinaryCrossentropy": call(losses.BinaryCrossentropy, flag(False)),
    "BinaryCrossentropy.value_and_grad": [
        call(
            losses.BinaryCrossentropy.value_and_grad,
            losses.BinaryCrossentropy(from_logits),
            array(_Y),
            array(_P),
            label=f"BinaryCrossentropy(from_logits={from_logits}).value_and_grad",
        )
        for from_logits in (False, True)
    ],
    "BinaryCrossentropy.check_targets": call(
        losses.BinaryCrossentropy.check_targets, losses.BinaryCrossentropy(), array(_Y, allow=_ANY_TARGETS)
    ),
    **dict.fromkeys(
        (
            "Loss.value_and_grad_unchecked",
            "Loss.hessian_vector_unchecked",
            "Loss.fused_divisor",
            "Loss.fused_gradient",
            "MeanSquaredError.value_and_grad_unchecked",
            "MeanSquaredError.hessian_vector_unchecked",
            *(
                f"{cls}.{method}"
                for cls in ("CategoricalCrossentropy", "BinaryCrossentropy")
                for method in ("value_and_grad_unchecked", "hessian_vector_unchecked", "fused_divisor")
            ),
        ),
        PROTOCOL,
    ),
}

# --- layers -----------------------------------------------------------------------------------

_XM = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [2.0, 1.0, 0.0]])  # 4 samples, 3 features
_YM = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # one-hot, 2 classes


def _after_forward(layer: layers.Layer) -> layers.Layer:
    layer.forward(_XM)
    return layer


def _dense(**kwargs: object) -> layers.Dense:
    return layers.Dense(2, seed=0, **kwargs)  # type: ignore[arg-type]


_LAYER_PROTOCOL = ("call", "backprop", "r_call", "r_backprop")

LAYERS: Table = {
    "Layer": call(layers.Layer, text("custom", allow=("None",))),
    "default_name": call(layers.default_name, obj(layers.Dense(3), "layer"), obj({"dense"}, "taken")),
    "Dense": call(
        layers.Dense,
        count(2),
        count(3, allow=("None",)),
        choice("he_uniform", "kernel_initializer"),
        choice("ones", "bias_initializer"),
        seed(0),
        text("hidden", allow=("None",)),
        use_bias=flag(False),
    ),
    "Activation": call(layers.Activation, choice("tanh", "activation"), text("act", allow=("None",))),
    "Layer.build": [
        call(
            layers.Layer.build,
            layer,
            count(3),
            generator(np.random.default_rng(0), allow=("None",)),  # None: fresh entropy
            dtype(np.float64),
            label=f"{type(layer).__name__}.build",
            updates=True,
        )
        for layer in (_dense(), layers.Activation("relu"))
    ],
    "Layer.forward": [
        call(layers.Layer.forward, layer, array(_XM), label=f"{type(layer).__name__}.forward", updates=True)
        for layer in (_dense(), _dense(input_dim=3), layers.Activation("softmax"))
    ],
    "Layer.__call__": call(layers.Layer.__call__, _dense(), array(_XM), updates=True),
    "Layer.backward": call(layers.Layer.backward, _after_forward(_dense()), array(np.ones((4, 2))), updates=True),
    "Dense.backward": call(layers.Dense.backward, _after_forward(_dense()), array(np.ones((4, 2))), updates=True),
    "Activation.backward": call(
        layers.Activation.backward, _after_forward(layers.Activation("sigmoid")), array(np.ones((4, 3))), updates=True
    ),
    "Layer.compute_output_dim": NotCalled(
        "abstract: walked as Dense.compute_output_dim and Activation.compute_output_dim"
    ),
    "Dense.compute_output_dim": call(layers.Dense.compute_output_dim, _dense(), count(3)),
    "Activation.compute_output_dim": call(layers.Activation.compute_output_dim, layers.Activation("relu"), count(3)),
    "Layer.params_for_width": call(
        layers.Layer.params_for_width, layers.Activation("relu"), count(3, "n_in", allow=("None",))
    ),
    "Dense.params_for_width": call(layers.Dense.params_for_width, _dense(), count(3, "n_in", allow=("None",))),
    "Layer.param_shapes": call(layers.Layer.param_shapes, _after_forward(_dense()), count(3)),
    "Dense.param_shapes": call(layers.Dense.param_shapes, _dense(), count(3)),
    "Activation.param_shapes": call(layers.Activation.param_shapes, layers.Activation("relu"), count(3)),
    **dict.fromkeys((f"{cls}.hvp_unsupported_reason" for cls in ("Layer", "Dense", "Activation")), NO_ARGUMENT),
    "Layer.count_params": NO_ARGUMENT,
    "Layer.clear_r_cache": NO_ARGUMENT,
    **dict.fromkeys((f"{cls}.{m}" for cls in ("Layer", "Dense", "Activation") for m in _LAYER_PROTOCOL), PROTOCOL),
}

# --- normalization and residual blocks -------------------------------------------------------------

NORMALIZATION: Table = {
    **{
        name: call(
            getattr(normalization, name),
            real(1e-3, "epsilon"),
            flag(True),
            flag(False),
            text("ln", allow=("None",)),
            label=name,
        )
        for name in ("LayerNormalization", "LayerNorm")  # Keras's name and its alias, one class
    },
    **{
        name: call(
            getattr(normalization, name),
            real(0.9, "momentum"),
            real(1e-3, "epsilon"),
            flag(True),
            flag(True),
            text("bn", allow=("None",)),
            label=name,
        )
        for name in ("BatchNormalization", "BatchNorm")
    },
    **{
        f"{cls.__name__}.{method}": call(getattr(cls, method), cls(), count(3), label=f"{cls.__name__}.{method}")
        for cls in (normalization.LayerNorm, normalization.BatchNorm)
        for method in ("compute_output_dim", "param_shapes")
    },
    **{
        f"{cls.__name__}.params_for_width": call(
            cls.params_for_width, cls(), count(3, "n_in", allow=("None",)), label=f"{cls.__name__}.params_for_width"
        )
        for cls in (normalization.LayerNorm, normalization.BatchNorm)
    },
    **dict.fromkeys(
        ("LayerNormalization.hvp_unsupported_reason", "BatchNormalization.hvp_unsupported_reason"), NO_ARGUMENT
    ),
    **dict.fromkeys(
        (f"{cls}.{m}" for cls in ("LayerNormalization", "BatchNormalization") for m in _LAYER_PROTOCOL), PROTOCOL
    ),
}


def _block() -> residual.Residual:
    return residual.Residual(layers.Dense(3, seed=0), layers.Activation("relu"), normalization.LayerNorm())


RESIDUAL: Table = {
    "Residual": call(
        residual.Residual,
        obj(layers.Dense(2, name="hidden"), "layers[0]"),  # named: the block names unnamed layers, by design
        obj(normalization.LayerNorm(name="norm"), "layers[1]"),
        name=text("block", allow=("None",)),
    ),
    "Residual.compute_output_dim": call(residual.Residual.compute_output_dim, _block(), count(3)),
    "Residual.param_shapes": call(residual.Residual.param_shapes, _block(), count(3)),
    "Residual.params_for_width": call(residual.Residual.params_for_width, _block(), count(3, "n_in", allow=("None",))),
    "Residual.hvp_unsupported_reason": NO_ARGUMENT,
    "Residual.clear_r_cache": NO_ARGUMENT,
    **dict.fromkeys((f"Residual.{m}" for m in _LAYER_PROTOCOL), PROTOCOL),
}

# --- attention and position encodings -----------------------------------------------------------

_XQ = np.linspace(-1.0, 1.0, 24).reshape(2, 3, 4)  # 2 sequences (or heads) of 3 queries of width 4
_XK = np.linspace(1.0, -0.5, 32).reshape(2, 4, 4)  # 4 keys
_XV = np.linspace(0.0, 2.0, 16).reshape(2, 4, 2)  # 4 values of width 2
_MASK = np.array([[True, False, True, False], [True, True, False, False], [False, False, False, True]])
_O, _A = attention.scaled_dot_product_attention(_XQ, _XK, _XV, _MASK)


def _mha() -> attention.MultiHeadAttention:
    return attention.MultiHeadAttention(2, 3, seed=0)


def _built(layer: layers.Layer, n_in: int) -> layers.Layer:
    layer.build(n_in)
    return layer


ATTENTION: Table = {
    "scaled_dot_product_attention": call(
        attention.scaled_dot_product_attention,
        array(_XQ),
        array(_XK),
        array(_XV),
        array(_MASK, "mask", allow=("None",)),  # None: no mask
    ),
    "scaled_dot_product_attention_backward": call(
        attention.scaled_dot_product_attention_backward,
        array(np.ones_like(_O), "dO"),
        array(_XQ),
        array(_XK),
        array(_XV),
        array(_A),
    ),
    "causal_mask": call(attention.causal_mask, count(3)),
    "MultiHeadAttention": call(
        attention.MultiHeadAttention,
        count(2),
        count(3),
        count(4, allow=("None",)),  # None: value_dim = key_dim
        flag(False),
        flag(True),
        seed(0),
        text("mha", allow=("None",)),
    ),
    "MultiHeadAttention.compute_output_dim": call(attention.MultiHeadAttention.compute_output_dim, _mha(), count(3)),
    "MultiHeadAttention.param_shapes": call(attention.MultiHeadAttention.param_shapes, _mha(), count(3)),
    "MultiHeadAttention.params_for_width": call(
        attention.MultiHeadAttention.params_for_width, _mha(), count(3, "n_in", allow=("None",))
    ),
    "MultiHeadAttention.attention_scores": call(  # on a built layer: the call then changes nothing
        attention.MultiHeadAttention.attention_scores, _built(_mha(), 3), array(np.ones((2, 4, 3)))
    ),
    "MultiHeadAttention.hvp_unsupported_reason": NO_ARGUMENT,
    "MultiHeadAttention.clear_r_cache": NO_ARGUMENT,
    **dict.fromkeys((f"MultiHeadAttention.{m}" for m in _LAYER_PROTOCOL), PROTOCOL),
}

_POSITION_LAYERS = ("SinusoidalPositionEncoding", "PositionEmbedding")
POSITIONAL: Table = {
    "sinusoidal_encoding": call(
        positional.sinusoidal_encoding, count(3), count(4), real(100.0, "max_wavelength"), dtype(np.float32)
    ),
    "SinusoidalPositionEncoding": call(
        positional.SinusoidalPositionEncoding, real(100.0, "max_wavelength"), text("pe", allow=("None",))
    ),
    "PositionEmbedding": call(
        positional.PositionEmbedding, count(4), choice("zeros", "initializer"), seed(0), text("pos", allow=("None",))
    ),
    **{
        f"{cls}.{method}": call(
            getattr(getattr(positional, cls), method),
            getattr(positional, cls)(*(() if cls == "SinusoidalPositionEncoding" else (4,))),
            count(3),
            label=f"{cls}.{method}",
        )
        for cls in _POSITION_LAYERS
        for method in ("compute_output_dim", "param_shapes")
    },
    "PositionEmbedding.params_for_width": call(
        positional.PositionEmbedding.params_for_width,
        positional.PositionEmbedding(4),
        count(3, "n_in", allow=("None",)),
    ),
    **dict.fromkeys((f"{cls}.hvp_unsupported_reason" for cls in _POSITION_LAYERS), NO_ARGUMENT),
    **dict.fromkeys((f"{cls}.{m}" for cls in _POSITION_LAYERS for m in _LAYER_PROTOCOL), PROTOCOL),
}

# --- models -----------------------------------------------------------------------------------


def _stack(*, built: bool = True, trained: bool = False) -> models.Sequential:
    """Dense(4) - tanh - Dense(2) - softmax on 3 features, compiled with Adam and cross-entropy."""
    model = models.Sequential(
        [
            layers.Dense(4, input_dim=3, name="hidden"),
            layers.Activation("tanh", name="tanh"),
            layers.Dense(2, name="out"),
            layers.Activation("softmax", name="softmax"),
        ],
        seed=0,
    )
    model.compile(optim.Adam(0.01), "categorical_crossentropy", ["accuracy"])
    if built:
        model.build()
    if trained:  # the optimizer holds a state
        model.fit(_XM, _YM, epochs=1, batch_size=2, verbose=0, seed=0)
    return model


_MODEL = _stack(trained=True)
_UNBUILT = _stack(built=False)  # knows its input width: set_weights and the like would build it
_WEIGHTS = _MODEL.get_weights()
_DIRECTION = [np.ones_like(w) for w in _WEIGHTS]
_MODELS = {"built": _MODEL, "unbuilt": _UNBUILT}


def _on_models(method: Callable[..., object], *args: object, **kwargs: object) -> list[Call]:
    """``method`` called on a built, trained model, and on one not built yet (which it may build)."""
    name = method.__qualname__.split(".")[-1]
    return [
        call(method, model, *args, label=f"Sequential[{kind}].{name}", updates=True, **kwargs)
        for kind, model in _MODELS.items()
    ]


# the options of the one training loop (mlmath.training), as Sequential.fit and second_order.fit take them
_FIT_OPTIONS = {
    "epochs": count(1),
    "batch_size": count(2, allow=("10**30",)),  # larger than the data: one batch
    "validation_split": real(0.25),
    "shuffle": flag(True),
    "verbose": verbose(0),
    "seed": seed(0),
}


def _discard(line: str) -> None:
    pass


def _named_layers() -> list[layers.Layer]:
    return [layers.Dense(3, input_dim=2, name="first"), layers.Activation("relu", name="second")]


MODELS: Table = {
    "accuracy": call(models.accuracy, array(_YM, "y_true"), array(_P[[0, 1, 2, 0]], "y_pred")),
    "LayerStack": call(
        models.LayerStack, layer_list(_named_layers(), allow=("None",)), seed(0), text("stack")
    ),  # None: no layers yet
    "Sequential": call(models.Sequential, layer_list(_named_layers(), allow=("None",)), seed(0), text("model")),
    "LayerStack.add": call(
        models.LayerStack.add, _stack(built=False), obj(layers.Dense(2, name="extra"), "layer"), updates=True
    ),
    "LayerStack.build": call(
        models.LayerStack.build,
        _stack(built=False),
        count(3, allow=("None",)),  # None: the first layer's input_dim
        dtype(np.float32),
        updates=True,
    ),
    "LayerStack.set_weights": _on_models(models.LayerStack.set_weights, arrays(_WEIGHTS)),
    "LayerStack.set_flat_weights": _on_models(models.LayerStack.set_flat_weights, array(_MODEL.get_flat_weights())),
    "LayerStack.summary": call(models.LayerStack.summary, _MODEL, function(_discard)),
    "LayerStack.count_params": NO_ARGUMENT,
    "LayerStack.get_weights": NO_ARGUMENT,
    "LayerStack.get_flat_weights": NO_ARGUMENT,
    "Sequential.compile": call(
        models.Sequential.compile,
        _stack(built=False),
        choice("sgd", "optimizer"),
        choice("mse", "loss"),
        metric_names(["accuracy"], "metrics", allow=("None",)),  # None: no metrics
        updates=True,
    ),
    "Sequential.fit": [
        *_on_models(models.Sequential.fit, array(_XM), array(_YM), **_FIT_OPTIONS),
        call(
            models.Sequential.fit,
            _stack(trained=True),
            array(_XM),
            array(_YM),
            validation_data=pair((_XM, _YM), allow=("None",)),
            verbose=0,
            label="Sequential.fit[validation_data]",
            updates=True,
        ),
    ],
    "Sequential.evaluate": _on_models(
        models.Sequential.evaluate, array(_XM), array(_YM), count(2, allow=("10**30",)), verbose(0)
    ),
    "Sequential.predict": _on_models(models.Sequential.predict, array(_XM), count(2, allow=("10**30",)), verbose(0)),
    "Sequential.loss_and_gradients": _on_models(models.Sequential.loss_and_gradients, array(_XM), array(_YM)),
    "Sequential.check_batch": _on_models(models.Sequential.check_batch, array(_XM), array(_YM)),
    "Sequential.hessian_vector_product": [
        *_on_models(models.Sequential.hessian_vector_product, array(_XM), array(_YM), arrays(_DIRECTION, "V")),
        *(
            call(
                models.Sequential.hessian_vector_product,
                model,
                _XM,
                _YM,
                array(np.ones(_MODEL.count_params()), "V"),
                label=f"Sequential[{kind}].hessian_vector_product[flat V]",
                updates=True,
            )
            for kind, model in _MODELS.items()
        ),
    ],
}

# --- optim ------------------------------------------------------------------------------------


def _adam_with_state() -> optim.Adam:
    opt = optim.Adam(0.1)
    opt.apply_gradients([np.ones((2, 3)), np.ones(2)], [np.ones((2, 3)), np.ones(2)])
    return opt


_OPT_PARAMS = [np.ones((2, 3)), np.zeros(2)]
_OPT_GRADS = [np.full((2, 3), 0.5), np.ones(2)]
_OPTIMIZERS = {"new": optim.Adam(0.1), "with state": _adam_with_state()}
_SCHEDULES = [
    optim.ExponentialDecay(0.1, 10, 0.5),
    optim.InverseTimeDecay(0.1, 10, 0.5),
    optim.PiecewiseConstantDecay([2, 5], [0.1, 0.01, 0.001]),
    optim.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10),
]


def _step_state(step_fn: Callable[..., tuple[np.ndarray, dict[str, object]]], **kwargs: object) -> dict[str, object]:
    return step_fn(np.ones(3), np.ones(3), **kwargs)[1]


def _pure_step(step_fn: Callable[..., object], **hyper: Arg) -> Call:
    fixed = {k: a.value for k, a in hyper.items()}
    # None starts afresh; integer slots are converted to the parameter's dtype, as param is
    return call(
        step_fn,
        array(np.ones(3)),
        array(np.full(3, 0.5)),
        state(_step_state(step_fn, **fixed), allow=("None", "int_slot")),
        learning_rate=real(0.1),
        **hyper,
    )


OPTIM: Table = {
    "SGD": call(optim.SGD, real(0.1), real(0.5), flag(True)),
    "AdaGrad": call(optim.AdaGrad, real(0.1), real(0.1), real(1e-7)),
    "RMSProp": call(optim.RMSProp, real(0.1), real(0.9), real(0.5), real(1e-7), flag(True)),
    "Adam": call(optim.Adam, real(0.1), real(0.9), real(0.999), real(1e-7), flag(True)),
    "AdamW": call(optim.AdamW, real(0.1), real(0.004), real(0.9), real(0.999), real(1e-7), flag(False)),
    "Optimizer": call(optim.Optimizer, real(0.1, "learning_rate")),
    "LearningRateSchedule": call(optim.LearningRateSchedule),
    "ExponentialDecay": call(optim.ExponentialDecay, real(0.1), real(10.0), real(0.5), flag(True)),
    "InverseTimeDecay": call(optim.InverseTimeDecay, real(0.1), real(10.0), real(0.5), flag(True)),
    "PiecewiseConstantDecay": call(optim.PiecewiseConstantDecay, numbers([2, 5]), numbers([0.1, 0.01, 0.001])),
    "CosineDecay": call(
        optim.CosineDecay,
        real(0.01),
        real(100.0),
        real(0.1),
        real(0.1, allow=("None",)),  # None: no warm-up
        real(10.0),
    ),
    "LearningRateSchedule.__call__": [
        c
        for schedule in _SCHEDULES
        for c in (
            # a fractional step count is a point between steps, as Keras computes it
            call(
                optim.LearningRateSchedule.__call__,
                schedule,
                step(3, allow=("2.5",)),
                label=f"{type(schedule).__name__}.__call__",
            ),
            call(
                optim.LearningRateSchedule.__call__,
                schedule,
                array(np.arange(5), "step", allow=("empty", "wrong_ndim")),  # an array of steps: rates of its shape
                label=f"{type(schedule).__name__}.__call__[array]",
            ),
        )
    ],
    "Optimizer.apply_gradients": [
        call(
            optim.Optimizer.apply_gradients,
            opt,
            arrays(_OPT_PARAMS, "params"),
            arrays(_OPT_GRADS, "grads"),
            label=f"Adam[{kind}].apply_gradients",
            updates=True,
        )
        for kind, opt in _OPTIMIZERS.items()
    ],
    "Optimizer.check_compatible": [
        # the values are not read; before the first update any list of parameters fits
        call(
            optim.Optimizer.check_compatible,
            opt,
            arrays(_OPT_PARAMS, "params", allow=("nan_entry", "empty_list") if kind == "new" else ("nan_entry",)),
            label=f"Adam[{kind}].check_compatible",
        )
        for kind, opt in _OPTIMIZERS.items()
    ],
    "Optimizer.set_state": [
        call(
            optim.Optimizer.set_state,
            opt,
            state(_adam_with_state().get_state()),
            label=f"Adam[{kind}].set_state",
            updates=True,
        )
        for kind, opt in _OPTIMIZERS.items()
    ],
    "Optimizer.apply_unchecked": PROTOCOL,
    "Optimizer.get_state": NO_ARGUMENT,
    **{f"{name}.get_config": NO_ARGUMENT for name in optim.__all__ if hasattr(getattr(optim, name), "get_config")},
    "sgd_step": _pure_step(optim.sgd_step, momentum=real(0.5), nesterov=flag(True)),
    "adagrad_step": _pure_step(optim.adagrad_step, initial_accumulator_value=real(0.1), epsilon=real(1e-7)),
    "rmsprop_step": _pure_step(
        optim.rmsprop_step, rho=real(0.9), momentum=real(0.5), epsilon=real(1e-7), centered=flag(True)
    ),
    "adam_step": _pure_step(
        optim.adam_step, beta_1=real(0.9), beta_2=real(0.999), epsilon=real(1e-7), amsgrad=flag(True)
    ),
    "adamw_step": _pure_step(optim.adamw_step, weight_decay=real(0.004), beta_1=real(0.9), amsgrad=flag(False)),
    "get": call(optim.get, choice("adam", "optimizer")),
}

# --- rnn --------------------------------------------------------------------------------------

_RNN_PARAMS = list(rnn.init_params(2, 3, 1, seed=0))
_XR = np.linspace(-1.0, 1.0, 40).reshape(4, 5, 2)  # 4 sequences of 5 steps of 2 features
_YR = np.linspace(0.0, 1.0, 20).reshape(4, 5, 1)  # a target at every step
_H0 = np.zeros(3)
_RNNS = {"many_to_many": rnn.RNN(2, 3, 1, seed=0), "many_to_one": rnn.RNN(2, 3, 1, mode="many_to_one", seed=0)}
_RNN_TARGETS = {"many_to_many": _YR, "many_to_one": _YR[:, -1]}


def _on_rnns(method: Callable[..., object], *args: object, with_y: bool = True, **kwargs: object) -> list[Call]:
    name = method.__qualname__.split(".")[-1]
    return [
        call(
            method,
            model,
            array(_XR),
            *((array(_RNN_TARGETS[mode], "Y"),) if with_y else ()),
            *args,
            label=f"RNN[{mode}].{name}",
            updates=name in ("fit", "set_flat_weights"),
            **kwargs,
        )
        for mode, model in _RNNS.items()
    ]


_OPTIONAL_H0 = array(_H0, "h0", allow=("None",))  # None: zeros


def _bptt_in_each_mode(func: Callable[..., object], params: object, *initial_states: Arg) -> list[Call]:
    """One valid call of a BPTT function per mode, each with that mode's targets."""
    return [
        call(
            func,
            arrays(params, "params"),
            array(_XR),
            array(Y),
            *initial_states,
            mode=choice(mode),
            label=f"{func.__name__}[{mode}]",
        )
        for mode, Y in _RNN_TARGETS.items()
    ]


RNN_TABLE: Table = {
    "RNNParams": NotCalled("a named tuple of arrays: the functions that take one check it, as params"),
    "RNNGradients": RESULT_TYPE,
    "RNNForward": RESULT_TYPE,
    "RNNHistory": call(rnn.RNNHistory),
    "RNN": call(
        rnn.RNN, count(2), count(3), count(1), mode=choice("many_to_one"), dtype=dtype(np.float32), seed=seed(0)
    ),
    "init_params": call(
        rnn.init_params,
        count(2),
        count(3),
        count(1),
        seed=seed(0),
        rng=generator(np.random.default_rng(0), allow=("None",)),  # None: a generator seeded by seed
        dtype=dtype(np.float32),
    ),
    "rnn_forward": call(
        rnn.rnn_forward, arrays(_RNN_PARAMS, "params"), array(_XR), _OPTIONAL_H0, mode=choice("many_to_many")
    ),
    "sequence_loss": call(rnn.sequence_loss, array(_YR), array(_YR[::-1])),
    "bptt": _bptt_in_each_mode(rnn.bptt, _RNN_PARAMS, _OPTIONAL_H0),
    "truncated_bptt": call(
        rnn.truncated_bptt,
        arrays(_RNN_PARAMS, "params"),
        array(_XR),
        array(_YR),
        count(2, allow=("10**30",)),  # k >= T cuts nothing
        _OPTIONAL_H0,
        mode=choice("many_to_many"),
    ),
    "clip_grad_norm": call(rnn.clip_grad_norm, arrays([np.array([3.0]), np.array([[4.0]])], "grads"), real(1.0)),
    "RNN.fit": _on_rnns(
        rnn.RNN.fit,
        optimizer=choice("adam"),
        epochs=count(1),
        batch_size=count(2, allow=("10**30",)),
        shuffle=flag(True),
        verbose=verbose(0),
        seed=seed(0),
        clip=real(1.0, allow=("None",)),  # None: no clipping
        truncate=count(2, allow=("None", "10**30")),  # None or k >= T: full BPTT
    ),
    "RNN.forward": _on_rnns(rnn.RNN.forward, _OPTIONAL_H0, with_y=False),
    "RNN.predict": _on_rnns(rnn.RNN.predict, _OPTIONAL_H0, with_y=False),
    "RNN.hidden_states": _on_rnns(rnn.RNN.hidden_states, _OPTIONAL_H0, with_y=False),
    "RNN.loss": _on_rnns(rnn.RNN.loss, _OPTIONAL_H0),
    "RNN.loss_and_gradients": _on_rnns(rnn.RNN.loss_and_gradients, _OPTIONAL_H0, count(2, allow=("None", "10**30"))),
    "RNN.set_flat_weights": call(
        rnn.RNN.set_flat_weights, _RNNS["many_to_many"], array(_RNNS["many_to_many"].get_flat_weights()), updates=True
    ),
    "RNN.get_flat_weights": NO_ARGUMENT,
}

# --- gated ------------------------------------------------------------------------------------

_LSTM_PARAMS = list(gated.lstm_init_params(2, 3, 1, seed=0))
_GRU_PARAMS = list(gated.gru_init_params(2, 3, 1, seed=0))
_GATED_MODELS = {
    name: {mode: cls(2, 3, 1, mode=mode, seed=0) for mode in ("many_to_many", "many_to_one")}
    for name, cls in (("LSTM", gated.LSTM), ("GRU", gated.GRU))
}
_OPTIONAL_C0 = array(_H0, "c0", allow=("None",))  # None: zeros


def _on_gated(
    model: str, method: Callable[..., object], *args: object, with_y: bool = True, **kw: object
) -> list[Call]:
    name = method.__qualname__.split(".")[-1]
    if model == "LSTM" and name not in ("fit", "set_flat_weights"):
        kw = {**kw, "c0": _OPTIONAL_C0}  # keyword-only on the LSTM's methods
    return [
        call(
            method,
            obj,
            array(_XR),
            *((array(_RNN_TARGETS[mode], "Y"),) if with_y else ()),
            *args,
            label=f"{model}[{mode}].{name}",
            updates=name in ("fit", "set_flat_weights"),
            **kw,
        )
        for mode, obj in _GATED_MODELS[model].items()
    ]


def _gated_methods(model: str) -> Table:
    cls = getattr(gated, model)
    table: Table = {
        f"{model}.fit": _on_gated(
            model,
            cls.fit,
            optimizer=choice("adam"),
            epochs=count(1),
            batch_size=count(2, allow=("10**30",)),
            shuffle=flag(True),
            verbose=verbose(0),
            seed=seed(0),
            clip=real(1.0, allow=("None",)),  # None: no clipping
            truncate=count(2, allow=("None", "10**30")),  # None or k >= T: full BPTT
        ),
        f"{model}.forward": _on_gated(model, cls.forward, _OPTIONAL_H0, with_y=False),
        f"{model}.predict": _on_gated(model, cls.predict, _OPTIONAL_H0, with_y=False),
        f"{model}.hidden_states": _on_gated(model, cls.hidden_states, _OPTIONAL_H0, with_y=False),
        f"{model}.loss": _on_gated(model, cls.loss, _OPTIONAL_H0),
        f"{model}.loss_and_gradients": _on_gated(
            model, cls.loss_and_gradients, _OPTIONAL_H0, count(2, allow=("None", "10**30"))
        ),
        f"{model}.set_flat_weights": call(
            cls.set_flat_weights,
            _GATED_MODELS[model]["many_to_many"],
            array(_GATED_MODELS[model]["many_to_many"].get_flat_weights()),
            label=f"{model}.set_flat_weights",
            updates=True,
        ),
        f"{model}.get_flat_weights": NO_ARGUMENT,
        f"{model}.count_params": NO_ARGUMENT,
    }
    if model == "LSTM":
        table["LSTM.cell_states"] = _on_gated(model, cls.cell_states, _OPTIONAL_H0, with_y=False)
    return table


def _torch_layout(params: list[np.ndarray]) -> list[Arg]:
    """A model's weights as PyTorch's arrays (an LSTM's bias split in two), each argument walked."""
    W_x, W_h, *biases, W_hy, b_y = params
    b_ih, b_hh = (biases[0], np.zeros_like(biases[0])) if len(biases) == 1 else biases
    values = (W_x, W_h, b_ih, b_hh, W_hy, b_y)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "W_hy", "b_y")
    return [array(v, name) for v, name in zip(values, names, strict=True)]


def _keras_layout(params: list[np.ndarray]) -> list[Arg]:
    """A model's weights as Keras's arrays (transposed; a GRU's two biases stacked), each argument walked."""
    W_x, W_h, *biases, W_hy, b_y = params
    bias = biases[0] if len(biases) == 1 else np.stack(biases)
    values = (W_x.T.copy(), W_h.T.copy(), bias, W_hy.T.copy(), b_y)
    names = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
    return [array(v, name) for v, name in zip(values, names, strict=True)]


_LOADER_OPTIONS = {"dtype": dtype(np.float64)}
_MODEL_LOADER_OPTIONS = {"mode": choice("many_to_one"), "dtype": dtype(np.float32), "seed": seed(0)}
_INIT_OPTIONS = {
    "seed": seed(0),
    "rng": generator(np.random.default_rng(0), allow=("None",)),  # None: a generator seeded by seed
    "dtype": dtype(np.float32),
}

GATED: Table = {
    "LSTMParams": NotCalled("a named tuple of arrays: the functions that take one check it, as params"),
    "GRUParams": NotCalled("a named tuple of arrays: the functions that take one check it, as params"),
    "LSTMGradients": RESULT_TYPE,
    "GRUGradients": RESULT_TYPE,
    "LSTMForward": RESULT_TYPE,
    "GRUForward": RESULT_TYPE,
    "LSTM": call(
        gated.LSTM,
        count(2),
        count(3),
        count(1),
        mode=choice("many_to_one"),
        dtype=dtype(np.float32),
        seed=seed(0),
        unit_forget_bias=flag(False),
    ),
    "GRU": call(
        gated.GRU, count(2), count(3), count(1), mode=choice("many_to_one"), dtype=dtype(np.float32), seed=seed(0)
    ),
    "lstm_init_params": call(
        gated.lstm_init_params, count(2), count(3), count(1), unit_forget_bias=flag(True), **_INIT_OPTIONS
    ),
    "gru_init_params": call(gated.gru_init_params, count(2), count(3), count(1), **_INIT_OPTIONS),
    "lstm_forward": call(
        gated.lstm_forward,
        arrays(_LSTM_PARAMS, "params"),
        array(_XR),
        _OPTIONAL_H0,
        _OPTIONAL_C0,
        mode=choice("many_to_many"),
    ),
    "gru_forward": call(
        gated.gru_forward, arrays(_GRU_PARAMS, "params"), array(_XR), _OPTIONAL_H0, mode=choice("many_to_many")
    ),
    "lstm_bptt": _bptt_in_each_mode(gated.lstm_bptt, _LSTM_PARAMS, _OPTIONAL_H0, _OPTIONAL_C0),
    "gru_bptt": _bptt_in_each_mode(gated.gru_bptt, _GRU_PARAMS, _OPTIONAL_H0),
    "lstm_truncated_bptt": call(
        gated.lstm_truncated_bptt,
        arrays(_LSTM_PARAMS, "params"),
        array(_XR),
        array(_YR),
        count(2, allow=("10**30",)),  # k >= T cuts nothing
        _OPTIONAL_H0,
        _OPTIONAL_C0,
        mode=choice("many_to_many"),
    ),
    "gru_truncated_bptt": call(
        gated.gru_truncated_bptt,
        arrays(_GRU_PARAMS, "params"),
        array(_XR),
        array(_YR[:, -1]),
        count(2, allow=("10**30",)),
        _OPTIONAL_H0,
        mode=choice("many_to_one"),
    ),
    "lstm_params_from_torch": call(gated.lstm_params_from_torch, *_torch_layout(_LSTM_PARAMS), **_LOADER_OPTIONS),
    "gru_params_from_torch": call(gated.gru_params_from_torch, *_torch_layout(_GRU_PARAMS), **_LOADER_OPTIONS),
    "lstm_params_from_keras": call(gated.lstm_params_from_keras, *_keras_layout(_LSTM_PARAMS), **_LOADER_OPTIONS),
    "gru_params_from_keras": call(gated.gru_params_from_keras, *_keras_layout(_GRU_PARAMS), **_LOADER_OPTIONS),
    "LSTM.from_torch_weights": call(
        gated.LSTM.from_torch_weights,
        *_torch_layout(_LSTM_PARAMS),
        label="LSTM.from_torch_weights",
        **_MODEL_LOADER_OPTIONS,
    ),
    "GRU.from_torch_weights": call(
        gated.GRU.from_torch_weights,
        *_torch_layout(_GRU_PARAMS),
        label="GRU.from_torch_weights",
        **_MODEL_LOADER_OPTIONS,
    ),
    "LSTM.from_keras_weights": call(
        gated.LSTM.from_keras_weights,
        *_keras_layout(_LSTM_PARAMS),
        label="LSTM.from_keras_weights",
        **_MODEL_LOADER_OPTIONS,
    ),
    "GRU.from_keras_weights": call(
        gated.GRU.from_keras_weights,
        *_keras_layout(_GRU_PARAMS),
        label="GRU.from_keras_weights",
        **_MODEL_LOADER_OPTIONS,
    ),
    **_gated_methods("LSTM"),
    **_gated_methods("GRU"),
}

# --- training ---------------------------------------------------------------------------------


def _restoring(params: list[np.ndarray], optimizer: optim.Optimizer) -> None:
    """Enter and leave ``restore_on_failure``: a context manager checks its arguments on entering."""
    with training.restore_on_failure(params, optimizer):
        pass


_OPTIONS = training.check_fit_options(
    epochs=1, batch_size=4, shuffle=True, verbose=0, seed=None, default_rng=np.random.default_rng(0)
)
_ANY_COUNT = ("10**30",)  # a number in a message, however large

TRAINING: Table = {
    "FitOptions": NotCalled("the checked options that check_fit_options returns, not built from user input"),
    "FitOptions.steps": call(training.FitOptions.steps, _OPTIONS, count(10, "n_rows", allow=_ANY_COUNT)),
    "History": call(training.History),
    "check_fit_options": call(
        training.check_fit_options,
        epochs=count(2),
        batch_size=count(4, allow=("10**30",)),
        shuffle=flag(True),
        verbose=verbose(0),
        seed=seed(0),
        default_rng=generator(np.random.default_rng(0)),
    ),
    "diverged": call(
        training.diverged,
        text("loss", "what"),
        float("nan"),
        count(3, "epoch", allow=_ANY_COUNT),
        count(5, "epochs", allow=_ANY_COUNT),
        step=count(2, allow=("None", *_ANY_COUNT)),  # None: after the epoch's steps
        steps=count(4, allow=_ANY_COUNT),
    ),
    # the arrays are snapshotted whatever their values: a NaN is restored as it was
    "restore_on_failure": call(
        _restoring,
        arrays(_OPT_PARAMS, "params", allow=("nan_entry", "empty_list")),
        obj(optim.SGD(0.1), "optimizer"),
        label="restore_on_failure",
    ),
    "run_epochs": PROTOCOL,
}

# --- curvature --------------------------------------------------------------------------------


def _without(kind: BadValues, label: str) -> BadValues:
    return lambda valid: {k: v for k, v in kind(valid).items() if k != label}


# params=[] is a model without parameters, valid with V=[]: against this V the mismatch is V's error
param_list = _kind(_without(_arrays_bad, "empty_list"))
_WEIGHT_NAMES = ["hidden/W", "hidden/b", "out/W", "out/b"]

_CURVATURE_PRODUCTS: Table = {
    "check_model": call(curvature.check_model, obj(_MODEL, "model"), text("the product", "what")),
    # evaluate's forward pass replaces the layers' caches
    "check_batch": call(
        curvature.check_batch, obj(_MODEL, "model"), array(_XM), array(_YM), text("the product", "what"), updates=True
    ),
    "check_fisher_support": call(
        curvature.check_fisher_support, layer_list(_MODEL.layers), obj(losses.CategoricalCrossentropy(), "loss")
    ),
    "gauss_newton_vector_product": [
        call(curvature.gauss_newton_vector_product, obj(_MODEL, "model"), array(_XM), array(_YM), V, updates=True)
        for V in (arrays(_DIRECTION, "V"), array(np.ones(26), "V"))
    ],
    "fisher_vector_product": [
        call(
            curvature.fisher_vector_product,
            obj(_MODEL, "model"),
            array(_XM),
            array(_YM),
            V,
            choice(kind, "kind"),
            label=f"fisher_vector_product[{kind}]",
            updates=True,
        )
        for kind, V in (("true", arrays(_DIRECTION, "V")), ("empirical", array(np.ones(26), "V")))
    ],
    "output_curvature_product": PROTOCOL,
}

CURVATURE: Table = {
    "check_direction": [
        call(
            curvature.check_direction,
            V,
            param_list(_WEIGHTS, "params", allow=("nan_entry",)),  # only shapes and the dtype are read
            names(_WEIGHT_NAMES),
            label=f"check_direction[{form}]",
        )
        for form, V in (("list", arrays(_DIRECTION, "V")), ("flat", array(np.ones(26), "V")))
    ],
    "check_hvp_support": call(
        curvature.check_hvp_support,
        layer_list(_MODEL.layers, allow=("repeated",)),
        obj(losses.CategoricalCrossentropy(), "loss"),
        text("hessian_vector_product", "what"),
    ),
    "hessian_vector_product": PROTOCOL,
    **_CURVATURE_PRODUCTS,
}

# --- krylov and second_order -------------------------------------------------------------------

_SPD = np.array([[4.0, 1.0, 0.0, 0.0], [1.0, 3.0, 0.5, 0.0], [0.0, 0.5, 2.0, 0.2], [0.0, 0.0, 0.2, 1.0]])


def _times_spd(v: np.ndarray) -> np.ndarray:
    return _SPD @ v


KRYLOV: Table = {
    "CGResult": RESULT_TYPE,
    "conjugate_gradient": call(
        krylov.conjugate_gradient,
        function(_times_spd, "matvec"),
        array(np.ones(4), "b"),
        damping=real(0.1),
        tol=real(1e-8),
        max_iter=count(4, allow=("None", "10**30")),  # None: n steps; more than needed stop at convergence
        x0=array(np.zeros(4), allow=("None",)),  # None: start from zero
        keep_iterates=flag(False),
        progress_tol=real(5e-4, allow=("None",)),  # None: no relative-progress rule
    ),
}


def _stepped(optimizer: second_order.ModelOptimizer) -> second_order.ModelOptimizer:
    """``optimizer`` after one step on a copy of the test model: it holds a state."""
    optimizer.step(copy.deepcopy(_MODEL), _XM, _YM)
    return optimizer


def _model_and_batch() -> tuple[Arg, Arg, Arg]:
    """``model, X, Y`` of a call that trains: a trained test model of its own (the call updates it), and the batch."""
    return obj(_stack(trained=True), "model"), array(_XM), array(_YM)


_SO_OPTIMIZERS = {
    "HessianFree": lambda: second_order.HessianFree(cg_max_iter=3),
    "NaturalGradient": lambda: second_order.NaturalGradient(cg_max_iter=3),
}

SECOND_ORDER: Table = {
    "ModelOptimizer": call(second_order.ModelOptimizer),
    "HessianFree": call(
        second_order.HessianFree,
        real(0.5, "damping"),
        count(3, "cg_max_iter", allow=("10**30",)),  # a cap however large
        real(1e-6, "cg_tol"),
        warm_start=real(0.5),
        backtrack=flag(True),
        adapt_damping=flag(False),
        cg_progress_tol=real(5e-4, allow=("None",)),  # None: no relative-progress rule
    ),
    "NaturalGradient": call(
        second_order.NaturalGradient,
        real(0.1, "learning_rate"),
        real(1e-3, "damping"),
        fisher=choice("empirical"),
        cg_max_iter=count(3, allow=("10**30",)),
        cg_tol=real(1e-6),
        warm_start=real(0.5),
    ),
    "fit": [
        call(
            second_order.fit,
            *_model_and_batch(),
            obj(make(), "optimizer"),
            **_FIT_OPTIONS,
            label=f"fit[{name}]",
            updates=True,
        )
        for name, make in _SO_OPTIMIZERS.items()
    ],
    "ModelOptimizer.step": [
        call(second_order.ModelOptimizer.step, make(), *_model_and_batch(), label=f"{name}.step", updates=True)
        for name, make in _SO_OPTIMIZERS.items()
    ],
    "ModelOptimizer.set_state": [
        call(
            second_order.ModelOptimizer.set_state,
            make(),
            state(_stepped(make()).get_state()),
            label=f"{name}.set_state",
            updates=True,
        )
        for name, make in _SO_OPTIMIZERS.items()
    ],
    **{
        f"{cls}.check_compatible": call(
            getattr(second_order, cls).check_compatible,
            _stepped(make()) if cls != "ModelOptimizer" else second_order.ModelOptimizer(),
            obj(_stack(trained=True), "model"),
            label=f"{cls}.check_compatible",
        )
        for cls, make in (("ModelOptimizer", None), *_SO_OPTIMIZERS.items())
    },
    **{f"{cls}.get_config": NO_ARGUMENT for cls in ("ModelOptimizer", *_SO_OPTIMIZERS)},
    **{f"{cls}.step_unchecked": PROTOCOL for cls in ("ModelOptimizer", *_SO_OPTIMIZERS)},
    "ModelOptimizer.get_state": NO_ARGUMENT,
}

# --- lbfgs ------------------------------------------------------------------------------------


def _bowl(x: np.ndarray) -> tuple[float, np.ndarray]:
    """f(x) = x^T x and its gradient 2x."""
    return float(x @ x), 2 * x


_LBFGS_G = np.array([1.0, -2.0, 0.5])
_PAIRS_S = [np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 1.0])]
_PAIRS_Y = [np.array([2.0, 0.5, 0.0]), np.array([0.0, 1.0, 3.0])]

LBFGS_TABLE: Table = {
    "LBFGSResult": RESULT_TYPE,
    "LineSearchResult": RESULT_TYPE,
    "two_loop_direction": call(lbfgs.two_loop_direction, array(_LBFGS_G, "g"), arrays(_PAIRS_S), arrays(_PAIRS_Y)),
    "wolfe_line_search": call(
        lbfgs.wolfe_line_search,
        function(_bowl, "fun_and_grad"),
        array(np.array([1.0, 2.0]), "x"),
        array(np.array([-1.0, -2.0]), "d"),
        real(5.0, "f0"),
        array(np.array([2.0, 4.0]), "g0"),
        real(1e-4, "c1"),
        real(0.9, "c2"),
        alpha0=real(1.0),
        alpha_max=real(1e10),
        max_iter=count(25),
    ),
    "minimize_lbfgs": call(
        lbfgs.minimize_lbfgs,
        function(_bowl, "fun_and_grad"),
        array(np.array([1.0, -2.0]), "x0"),
        memory=count(3),
        max_iter=count(5),
        gtol=real(1e-6),
        c1=real(1e-4),
        c2=real(0.9),
        max_evals_per_search=count(25),
    ),
    "LBFGS": call(lbfgs.LBFGS, count(5, "memory"), real(1e-4), real(0.9), count(25)),
    "LBFGS.set_state": call(
        lbfgs.LBFGS.set_state, lbfgs.LBFGS(), state(_stepped(lbfgs.LBFGS()).get_state()), updates=True
    ),
    "LBFGS.step_unchecked": PROTOCOL,
    "LBFGS.get_config": NO_ARGUMENT,
}

# --- kfac -------------------------------------------------------------------------------------

_KFAC_A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
_KFAC_G = np.array([[1.0, 0.3], [0.3, 0.5]])

KFAC_TABLE: Table = {
    "KroneckerFactors": RESULT_TYPE,
    "kfac_factors": call(
        kfac.kfac_factors,
        *_model_and_batch(),
        fisher=choice("expected"),
        seed=seed(0),
        updates=True,  # the layers' caches and grads are those of this batch afterwards
    ),
    "kronecker_solve": call(
        kfac.kronecker_solve,
        array(_KFAC_A, "A"),
        array(_KFAC_G, "G"),
        array(np.ones((2, 3)), "V"),
        real(0.1, "damping"),
        choice("factored", "damping_form"),
    ),
    "KFAC": call(
        kfac.KFAC,
        learning_rate=real(0.1),
        damping=real(1e-2),
        decay=real(0.95),
        inverse_update_freq=count(10, allow=("10**30",)),  # a period however long
        momentum=real(0.5),
        fisher=choice("sampled"),
        damping_form=choice("exact"),
        kl_clip=real(1e-2, allow=("None",)),  # None: no clipping
        seed=seed(0),
    ),
    "KFAC.check_compatible": call(
        kfac.KFAC.check_compatible, _stepped(kfac.KFAC(seed=0)), obj(_stack(trained=True), "model")
    ),
    "KFAC.set_state": call(
        kfac.KFAC.set_state, kfac.KFAC(), state(_stepped(kfac.KFAC(momentum=0.5, seed=0)).get_state()), updates=True
    ),
    "KFAC.step_unchecked": PROTOCOL,
    "KFAC.get_config": NO_ARGUMENT,
}

# --- initializers -----------------------------------------------------------------------------

_RNG = generator(np.random.default_rng(0), "rng")

INITIALIZERS: Table = {
    **{
        name: call(getattr(initializers, name), shape((3, 2)), _RNG)
        for name in ("glorot_uniform", "he_uniform", "zeros", "ones")
    },
    "orthogonal": call(initializers.orthogonal, matrix_shape((3, 3)), _RNG),
    "draw": call(initializers.draw, choice("he_uniform", "initializer"), shape((3, 2)), _RNG),
    # messages call the identifier by the name given
    "get": call(initializers.get, choice("zeros", "kernel_initializer"), text("kernel_initializer", "name")),
}

TABLES: dict[ModuleType, Table] = {
    linalg: LINALG,
    tensor: TENSOR,
    calculus: CALCULUS,
    data: DATA,
    activations: ACTIVATIONS,
    losses: LOSSES,
    layers: LAYERS,
    models: MODELS,
    optim: OPTIM,
    rnn: RNN_TABLE,
    gated: GATED,
    training: TRAINING,
    curvature: CURVATURE,
    krylov: KRYLOV,
    second_order: SECOND_ORDER,
    initializers: INITIALIZERS,
    normalization: NORMALIZATION,
    residual: RESIDUAL,
    attention: ATTENTION,
    positional: POSITIONAL,
    lbfgs: LBFGS_TABLE,
    kfac: KFAC_TABLE,
}

# ---------------------------------------------------------------------------------------------
# deriving the calls
# ---------------------------------------------------------------------------------------------


def _short(module: ModuleType) -> str:
    return module.__name__.rpartition(".")[2]


def _calls() -> Iterator[tuple[ModuleType, Call]]:
    for module, table in TABLES.items():
        for entry in table.values():
            if not isinstance(entry, NotCalled):
                yield from ((module, c) for c in (entry if isinstance(entry, list) else [entry]))


def _walked(c: Call) -> Iterator[tuple[int | str, str, Arg]]:
    """Each walked argument of ``c``: its position or keyword, the name messages use for it, the Arg."""
    params = list(inspect.signature(c.func).parameters.values())
    for i, a in enumerate(c.args):
        if isinstance(a, Arg):
            param = params[min(i, len(params) - 1)]
            if a.name is None and param.kind is inspect.Parameter.VAR_POSITIONAL:
                raise AssertionError(f"{c.label}: name the *{param.name} argument at position {i}")
            yield i, a.name or param.name, a
    for key, a in c.kwargs.items():
        if isinstance(a, Arg):
            yield key, a.name or key, a


def _bound(c: Call, where: int | str | None = None, value: object = None) -> tuple[list, dict]:
    """Fresh copies of the call's arguments, with ``value`` at ``where``."""
    args = [a.value if isinstance(a, Arg) else a for a in c.args]
    kwargs = {k: a.value if isinstance(a, Arg) else a for k, a in c.kwargs.items()}
    if isinstance(where, int):
        args[where] = value
    elif where is not None:
        kwargs[where] = value
    return copy.deepcopy((args, kwargs))


def _replacements(allowed: bool) -> list:
    params = []
    for module, c in _calls():
        for where, name, a in _walked(c):
            for label, value in a.bad(a.value).items():
                if (label in a.allow) == allowed:
                    test_id = f"{_short(module)}.{c.label}-{name}-{label}".replace(" ", "_")
                    params.append(pytest.param(c, where, name, value, id=test_id))
    return params


BAD_CALLS = _replacements(allowed=False)
ALLOWED_CALLS = _replacements(allowed=True)
VALID_CALLS = [pytest.param(c, id=f"{_short(module)}.{c.label}".replace(" ", "_")) for module, c in _calls()]

# ---------------------------------------------------------------------------------------------
# running them
# ---------------------------------------------------------------------------------------------


def _snapshot(value: object, generators: bool = True, seen: set[int] | None = None) -> object:
    """A comparable record of ``value``'s contents.

    Arrays are recorded by their bytes, generators by their state, containers and the package's
    own objects (layers, models, optimizers) by their contents; anything else by identity.
    """
    seen = set() if seen is None else seen
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.random.Generator):
        return ("generator", value.bit_generator.state if generators else None)
    if id(value) in seen:
        return ("seen", id(value))
    if isinstance(value, list | tuple | dict) or type(value).__module__.startswith("mlmath."):
        seen.add(id(value))
        if isinstance(value, list | tuple):
            return (type(value).__name__, [_snapshot(v, generators, seen) for v in value])
        items = value if isinstance(value, dict) else getattr(value, "__dict__", {})
        return (type(value).__name__, [(k, _snapshot(v, generators, seen)) for k, v in items.items()])
    return ("object", id(value))


def _attempt(func: Callable[..., object], args: list, kwargs: dict) -> BaseException | None:
    """Call ``func`` with every warning turned into an error; return what it raised, if anything."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            func(*args, **kwargs)
        except Exception as exc:  # the tests below say which exceptions are acceptable
            return exc
    return None


def _names_argument(message: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message) is not None


@pytest.mark.parametrize("c", VALID_CALLS)
def test_valid_call_succeeds(c: Call) -> None:
    args, kwargs = _bound(c)
    before = _snapshot((args, kwargs), generators=False)
    exc = _attempt(c.func, args, kwargs)
    assert exc is None, f"the valid call raised {type(exc).__name__}: {exc}"
    if not c.updates:
        assert _snapshot((args, kwargs), generators=False) == before, "the valid call changed an argument in place"


@pytest.mark.parametrize(("c", "where", "name", "value"), BAD_CALLS)
def test_bad_call_raises_naming_the_argument(c: Call, where: int | str, name: str, value: object) -> None:
    args, kwargs = _bound(c, where, value)
    before = _snapshot((args, kwargs))
    exc = _attempt(c.func, args, kwargs)
    assert exc is not None, f"returned instead of raising for {name}={value!r}"
    assert isinstance(exc, ValueError | TypeError), f"raised {type(exc).__name__}: {exc}"
    assert _names_argument(str(exc), name), f"the message does not name {name!r}: {exc}"
    assert _snapshot((args, kwargs)) == before, "a failing call changed an argument"


@pytest.mark.parametrize(("c", "where", "name", "value"), ALLOWED_CALLS)
def test_allowed_replacement_is_valid(c: Call, where: int | str, name: str, value: object) -> None:
    args, kwargs = _bound(c, where, value)
    before = _snapshot((args, kwargs), generators=False)
    exc = _attempt(c.func, args, kwargs)
    assert exc is None, f"{name}={value!r} is listed as allowed but raised {type(exc).__name__}: {exc}"
    if not c.updates:
        assert _snapshot((args, kwargs), generators=False) == before, "the call changed an argument in place"


# Callables that an object holds as attributes, not found on its class: part of the surface too.
INSTANCE_CALLABLES: dict[ModuleType, tuple[str, ...]] = {
    activations: ("ActivationFunction.forward", "ActivationFunction.derivative"),
}


def _public_methods(cls: type) -> list[str]:
    """``"Class.method"`` for each public method (and ``__call__``) that ``cls`` defines or takes from a
    private base class of the package; those of a public base class are listed under that class."""
    names = []
    for name in dir(cls):
        if name.startswith("_") and name != "__call__":
            continue
        owner = next(k for k in cls.__mro__ if name in vars(k))
        attr = vars(owner)[name]
        if isinstance(attr, classmethod | staticmethod):  # alternative constructors, such as LSTM.from_torch_weights
            attr = attr.__func__
        if not owner.__module__.startswith("mlmath.") or isinstance(attr, property) or not callable(attr):
            continue  # inherited from Python (tuple.count), a property or a class attribute
        if owner is cls or owner.__name__.startswith("_"):
            names.append(f"{cls.__name__}.{name}")
    return names


def _public_surface(module: ModuleType) -> list[str]:
    names = list(module.__all__) + list(INSTANCE_CALLABLES.get(module, ()))
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) and value.__module__ == module.__name__ and value.__name__ == name:
            names += _public_methods(value)  # an alias (normalization.LayerNorm) has its class's methods
    return names


@pytest.mark.parametrize("module", TABLES, ids=_short)
def test_table_covers_every_public_name(module: ModuleType) -> None:
    assert sorted(TABLES[module]) == sorted(_public_surface(module))


@pytest.mark.parametrize("c", VALID_CALLS)
def test_allowed_labels_are_bad_values_of_the_kind(c: Call) -> None:
    for _, name, a in _walked(c):
        assert a.allow <= set(a.bad(a.value)), (
            f"{c.label}: {name} allows unknown labels {a.allow - set(a.bad(a.value))}"
        )


# ---------------------------------------------------------------------------------------------
# finite inputs whose results overflow
# ---------------------------------------------------------------------------------------------

OVERFLOWS = [
    pytest.param(lambda: linalg.affine([1e200], [[1e200]], [0.0]), r"Wx \+ b for these x, W and b", id="affine"),
    pytest.param(lambda: linalg.affine_backward([1e200], [1e200], [[1.0]]), r"dZ, X and W", id="affine_backward"),
    pytest.param(lambda: tensor.outer([1e200], [1e200]), r"outer product of u and v", id="outer"),
    pytest.param(lambda: tensor.contract("i, i ->", [1e200], [1e200], names=("p", "q")), r"of p, q", id="contract"),
    pytest.param(lambda: tensor.batched_matmul(np.full((1, 1, 1), 1e200), [[1e200]]), r"A @ B", id="batched_matmul"),
    pytest.param(lambda: tensor.kron_vec_product([[1e200]], [[1e200]], [[1.0]]), r"A X B", id="kron_vec_product"),
    pytest.param(lambda: calculus.gradient(np.sum, [1e308], h=1e308), r"x \+ h .*smaller h", id="gradient[x + h]"),
    pytest.param(lambda: calculus.gradient(np.sum, [0.0], h=1e308), r"h = 1e\+308 is too large", id="gradient[2h]"),
    pytest.param(
        lambda: calculus.gradient(lambda x: 1.7e308 * np.tanh(1e10 * x[0]), [0.0]),
        r"difference quotient of f's values",
        id="gradient[quotient]",
    ),
    pytest.param(lambda: calculus.hvp(lambda x: x, [1e308], [1.0], h=1e308), r"x ± tv", id="hvp"),
    pytest.param(lambda: calculus.hessian_from_hvp(lambda v: 1.7e308 * v[::-1], 2), r"hvp_fn", id="hessian_from_hvp"),
    pytest.param(lambda: calculus.top_eigenvalues(lambda v: 1e300 * v, 3), r"Lanczos .*hvp_fn", id="top_eigenvalues"),
    pytest.param(lambda: data.blobs(cluster_std=1e308), r"cluster_std", id="blobs"),
    pytest.param(lambda: data.spirals(noise=1e308), r"noise", id="spirals"),
    pytest.param(lambda: rnn.clip_grad_norm([np.array([1e200])], 1.0), r"global norm of grads", id="clip_grad_norm"),
]


@pytest.mark.parametrize(("compute", "pattern"), OVERFLOWS)
def test_overflow_is_refused_without_a_warning(compute: Callable[[], object], pattern: str) -> None:
    exc = _attempt(compute, [], {})
    assert isinstance(exc, ValueError), f"expected ValueError, got {type(exc).__name__}: {exc}"
    assert "overflows the floating-point range" in str(exc) or "too large" in str(exc), str(exc)
    assert re.search(pattern, str(exc)), str(exc)

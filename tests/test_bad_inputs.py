"""Every public callable answers bad input with a clear error.

For each module in ``TABLES``, a table maps every name in the module's ``__all__`` to one or
more valid calls. Each argument of a valid call is marked with its kind (an array, a count, a
float hyper-parameter, ...), and bad calls are derived from it: one argument at a time is
replaced by each bad value of its kind. A bad call must raise ``ValueError`` or ``TypeError``
whose message names the argument, emit no warning, and leave every argument as it was (arrays
unchanged, generators not advanced). A bad value that is legitimately valid for one argument
is listed in that argument's ``allow``, and the call with it must then succeed.

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

import mlmath.calculus as calculus
import mlmath.data as data
import mlmath.linalg as linalg
import mlmath.tensor as tensor

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


def _fixed(values: dict[str, object]) -> BadValues:
    return lambda _valid: values


COUNT = _fixed({"2.5": 2.5, "-1": -1, "True": True, "str": "3", "None": None, "10**30": 10**30})
REAL = _fixed({"nan": float("nan"), "inf": float("inf"), "None": None, "str": "0.1"})
DTYPE = _fixed({"garbage": "garbage", "int32": np.int32})
FLAG = _fixed({"str": "no", "None": None, "int": 1})
CHOICE = _fixed({"garbage": "garbage", "None": None, "int": 3})
FUNCTION = _fixed({"None": None, "str": "f", "float": 3.0})
SEED = _fixed({"-1": -1, "2.5": 2.5, "True": True, "str": "3"})


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
    return Call(label or func.__name__, func, args, kwargs, updates)


@dataclass(frozen=True)
class NotCalled:
    """A public name that takes no user input to check, and why."""

    reason: str


Table = dict[str, Call | list[Call] | NotCalled]

# ---------------------------------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------------------------------

RESULT_TYPE = NotCalled("a named tuple returned by the module, not built from user input")

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

TABLES: dict[ModuleType, Table] = {linalg: LINALG, tensor: TENSOR, calculus: CALCULUS, data: DATA}

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


@pytest.mark.parametrize("module", TABLES, ids=_short)
def test_table_covers_every_public_name(module: ModuleType) -> None:
    assert sorted(TABLES[module]) == sorted(module.__all__)


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
]


@pytest.mark.parametrize(("compute", "pattern"), OVERFLOWS)
def test_overflow_is_refused_without_a_warning(compute: Callable[[], object], pattern: str) -> None:
    exc = _attempt(compute, [], {})
    assert isinstance(exc, ValueError), f"expected ValueError, got {type(exc).__name__}: {exc}"
    assert "overflows the floating-point range" in str(exc) or "too large" in str(exc), str(exc)
    assert re.search(pattern, str(exc)), str(exc)

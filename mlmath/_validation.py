"""Input checks shared by every public entry point of :mod:`mlmath`.

Each check raises before any state changes, with a message that names the argument,
says what was expected and what came, and where it helps, how to fix it.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal, TypeVar, overload

import numpy as np

__all__ = [
    "MAX_SIZE",
    "ONE_HOT_HINT",
    "as_array_list",
    "as_float_array",
    "as_generator",
    "as_shape",
    "check_bool",
    "check_dtype",
    "check_finite",
    "check_generator",
    "check_in_range",
    "check_int",
    "check_nonempty",
    "check_param_arrays",
    "check_positive",
    "check_same_shape",
    "check_shape",
    "check_size",
    "check_str",
    "check_verbose",
    "describe",
    "lookup",
    "no_overflow",
]

T = TypeVar("T")

ONE_HOT_HINT = "For integer class labels y, pass mlmath.data.to_categorical(y, num_classes)."
"""The hint every check of one-hot targets ends with."""

_ORDINAL = {0: "0-D (scalar)", 1: "1-D", 2: "2-D", 3: "3-D"}


def _ndim_words(ndim: int) -> str:
    return _ORDINAL.get(ndim, f"{ndim}-D")


def as_float_array(
    x: object,
    name: str,
    *,
    ndim: int | None = None,
    shape_hint: str | None = None,
    finite: bool = True,
) -> np.ndarray:
    """Return ``x`` as a floating-point array, refusing what cannot be one.

    float32 and float64 inputs keep their dtype; integer and boolean inputs become
    float64. Complex and object inputs are refused.

    Parameters
    ----------
    x : array_like
        The value given by the user.
    name : str
        The argument's name, used in error messages.
    ndim : int, optional
        Required number of dimensions.
    shape_hint : str, optional
        The expected shape in words, e.g. ``"(n_samples, n_features)"``.
    finite : bool, default True
        Refuse NaN and infinity.

    Returns
    -------
    numpy.ndarray
        A floating-point array (a view of ``x`` when no conversion was needed).

    Raises
    ------
    TypeError
        If ``x`` is not numeric.
    ValueError
        If ``x`` has the wrong number of dimensions or holds non-finite values.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of numbers; got {type(x).__name__} ({exc})") from exc
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "f":
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    else:
        raise TypeError(f"{name} must hold real numbers (float32, float64, int or bool); got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        expected = f"a {_ndim_words(ndim)} array" + (f" of shape {shape_hint}" if shape_hint else "")
        hint = ""
        if ndim == 2 and arr.ndim == 1:
            hint = (
                " Reshape your data with x.reshape(-1, 1) if it holds one feature,"
                " or x.reshape(1, -1) if it is one sample."
            )
        raise ValueError(f"{name} must be {expected}; got a {_ndim_words(arr.ndim)} array of shape {arr.shape}.{hint}")
    if finite:
        check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if ``arr`` holds NaN or infinity, saying how many and where."""
    # min and max propagate NaN and show infinities, without a boolean array the size of arr
    if arr.size == 0 or (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        return
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)
        first = tuple(int(i) for i in bad[0]) if arr.ndim else ()
        raise ValueError(
            f"{name} must hold only finite values; got {len(bad)} NaN or infinite "
            f"value(s), the first at index {first} ({arr[first]})"
        )


def check_shape(arr: np.ndarray, name: str, expected: Sequence[int | None], meaning: str = "") -> None:
    """Raise ``ValueError`` unless ``arr.shape`` matches ``expected`` (``None`` matches any length).

    ``meaning`` names the axes, e.g. ``"(n_out, n_in)"``, and is quoted in the message.
    """
    shape = arr.shape
    ok = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected, strict=True))
    if not ok:
        sizes = ["any" if e is None else str(e) for e in expected]
        want = f"({', '.join(sizes)}{',' if len(sizes) == 1 else ''})"
        words = f" {meaning}" if meaning else ""
        raise ValueError(f"{name} must have shape {want}{words}; got shape {shape}")


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape (no broadcasting)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape; got {name_a}.shape={a.shape} and {name_b}.shape={b.shape}"
        )


def _as_real_scalar(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return out


def check_positive(value: object, name: str) -> float:
    """Return ``value`` as a float, raising unless it is a finite number > 0."""
    out = _as_real_scalar(value, name)
    if out <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")
    return out


def check_in_range(
    value: object,
    name: str,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> float:
    """Return ``value`` as a float, raising unless it lies in the stated interval.

    The default interval is ``[low, high)``; the message writes the interval in that notation.
    """
    out = _as_real_scalar(value, name)
    above = out >= low if low_inclusive else out > low
    below = out <= high if high_inclusive else out < high
    if not (above and below):
        interval = f"{'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
        raise ValueError(f"{name} must lie in {interval}; got {value!r}")
    return out


def check_int(value: object, name: str, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` as an ``int``, raising unless it is an integer in ``[low, high]``.

    Python and numpy integers are accepted; ``bool`` and whole floats such as ``2.0`` are refused
    (``TypeError``), as are integers outside the range (``ValueError``).
    """
    bounds = f">= {low}" + (f" and <= {high}" if high is not None else "")
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer {bounds}; got {type(value).__name__} {value!r}")
    out = int(value)
    if out < low or (high is not None and out > high):
        raise ValueError(f"{name} must be an integer {bounds}; got {out}")
    return out


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` as a ``bool``, raising ``TypeError`` unless it is ``True`` or ``False``.

    Strings such as ``'no'``, numbers and ``None`` are refused: each would be truthy or falsy
    by accident rather than by intent.
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")
    return bool(value)


@overload
def check_str(value: object, name: str, *, allow_none: Literal[False] = False) -> str: ...
@overload
def check_str(value: object, name: str, *, allow_none: bool) -> str | None: ...
def check_str(value: object, name: str, *, allow_none: bool = False) -> str | None:
    """Return ``value`` unchanged, raising ``TypeError`` unless it is a string (or ``None`` if ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        words = "a string or None" if allow_none else "a string"
        raise TypeError(f"{name} must be {words}; got {type(value).__name__}")
    return value


@overload
def check_generator(value: object, name: str = ..., *, allow_none: Literal[False] = False) -> np.random.Generator: ...
@overload
def check_generator(value: object, name: str = ..., *, allow_none: bool) -> np.random.Generator | None: ...
def check_generator(value: object, name: str = "rng", *, allow_none: bool = False) -> np.random.Generator | None:
    """Return ``value`` unchanged, raising ``TypeError`` unless it is a ``numpy.random.Generator``.

    With ``allow_none``, ``None`` (a fresh generator chosen by the caller) is accepted too. Unlike
    :func:`as_generator` no seed is accepted: the caller's draws must advance the caller's generator.
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, np.random.Generator):
        words = "a numpy.random.Generator or None" if allow_none else "a numpy.random.Generator"
        raise TypeError(f"{name} must be {words}, such as np.random.default_rng(0); got {type(value).__name__}")
    return value


def describe(value: object) -> str:
    """``value``'s type in words, with its dtype if it is an array."""
    if isinstance(value, np.ndarray):
        return f"ndarray of dtype {value.dtype}"
    return type(value).__name__


def check_param_arrays(params: object, name: str = "params", *, writable: bool = True) -> list[np.ndarray]:
    """The parameters a loop updates in place: a list or tuple of float32/float64 numpy arrays.

    Refuses anything else with a ``TypeError`` naming ``name`` or the entry ``name[i]``: ``None``,
    a single array, a list of lists (which cannot be updated in place), other dtypes, and with
    ``writable`` read-only arrays. The values are not checked (a loop may hold NaN to restore).
    """
    if not isinstance(params, list | tuple):
        raise TypeError(f"{name} must be a list of arrays such as [W, b]; got {type(params).__name__}")
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{name}[{i}] must be a float32 or float64 numpy array (updated in place); got {describe(p)}"
            )
        if writable and not p.flags.writeable:
            raise TypeError(f"{name}[{i}] must be writable: it is updated in place")
    return list(params)


def check_verbose(value: object, name: str = "verbose") -> int:
    """Return ``value`` as an ``int``, raising unless it is 0, 1 or 2 (Keras's verbosity levels)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be 0, 1 or 2; got {type(value).__name__} {value!r}")
    if int(value) not in (0, 1, 2):
        raise ValueError(f"{name} must be 0, 1 or 2; got {value!r}")
    return int(value)


def check_dtype(dtype: object, name: str = "dtype") -> np.dtype:
    """Return ``dtype`` as a numpy dtype, raising ``TypeError`` unless it is float32 or float64.

    Accepts what ``numpy.dtype`` accepts (``np.float32``, ``"float64"``, a dtype object).
    """
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be float32 or float64 (np.float32, 'float64', ...); got {type(dtype).__name__} {dtype!r}"
        ) from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64; got {dt}")
    return dt


def as_generator(seed: object, name: str = "seed") -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``seed``, in the spirit of scikit-learn's ``check_random_state``.

    ``None`` draws fresh entropy (never numpy's global state); an integer >= 0 seeds a new
    generator; a ``Generator`` is returned as it is (so draws from it advance it).
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"{name} must be None, an integer >= 0 or a numpy.random.Generator; got {type(seed).__name__} {seed!r}"
        )
    return np.random.default_rng(check_int(seed, name, 0))


def lookup(table: Mapping[str, T], key: object, name: str, alternative: str = "") -> T:
    """``table[key.lower()]``, raising with the known keys when ``key`` is not one of them.

    ``TypeError`` if ``key`` is not a string, ``ValueError`` if it is an unknown one. The
    message lists the known names and, if given, the ``alternative`` (e.g. ``"a Loss instance"``).
    """
    known = ", ".join(repr(k) for k in table) + (f", or {alternative}" if alternative else "")
    if not isinstance(key, str):
        raise TypeError(f"{name} must be one of {known}; got {type(key).__name__} {key!r}")
    value = table.get(key.lower())
    if value is None:
        raise ValueError(f"{name} must be one of {known}; got {key!r}")
    return value


def as_array_list(values: object, name: str, *, length: int | None = None, finite: bool = True) -> list[np.ndarray]:
    """A list or tuple of arrays as a list of float arrays (each checked by :func:`as_float_array`).

    Refuses ``None``, a single numpy array, strings and other non-sequences with a ``TypeError``
    that shows the expected form, and a wrong number of arrays with a ``ValueError``.
    """
    if not isinstance(values, list | tuple):
        raise TypeError(f"{name} must be a list of arrays such as [W, b]; got {type(values).__name__}")
    if length is not None and len(values) != length:
        raise ValueError(f"{name} must hold {length} arrays; got {len(values)}")
    return [as_float_array(v, f"{name}[{i}]", finite=finite) for i, v in enumerate(values)]


def check_nonempty(arr: np.ndarray, name: str, what: str = "at least one entry") -> None:
    """Raise ``ValueError`` if ``arr`` has no entries (so a mean over it is undefined)."""
    if arr.size == 0:
        raise ValueError(f"{name} must hold {what}; got an empty array of shape {arr.shape}")


MAX_SIZE = int(np.iinfo(np.intp).max)  # the most entries numpy can index along one axis


def check_size(value: object, name: str, low: int = 1) -> int:
    """Return ``value`` as an ``int`` that can size an array: an integer from ``low`` to ``MAX_SIZE``."""
    out = check_int(value, name, low)
    if out > MAX_SIZE:
        raise ValueError(f"{name} must be at most {MAX_SIZE}, the largest size numpy can index; got {out}")
    return out


@contextmanager
def no_overflow(what: str, fix: str = "scale the inputs down") -> Iterator[None]:
    """Raise ``ValueError`` if arithmetic in the block overflows, instead of numpy's warning and an infinity."""
    with np.errstate(over="raise"):
        try:
            yield
        except FloatingPointError as exc:
            raise ValueError(f"computing {what} overflows the floating-point range ({exc}); {fix}") from None


def as_shape(shape: object, name: str, ndim: int | None = None) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of array sizes (an int ``n`` stands for ``(n,)``), of ``ndim`` sizes if given."""
    if isinstance(shape, np.ndarray):
        raise TypeError(f"{name} must be a shape (a tuple of ints); got an array. Pass arr.shape instead")
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise TypeError(f"{name} must be a shape (a tuple of ints); got {type(shape).__name__} {shape!r}")
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"{name} must hold integer sizes; got {shape!r}")
    sizes = tuple(int(n) for n in shape)
    if min(sizes, default=0) < 0:
        raise ValueError(f"{name} must hold sizes >= 0; got {sizes!r}")
    if max(sizes, default=0) > MAX_SIZE:
        raise ValueError(f"{name} must hold sizes <= {MAX_SIZE}, the largest numpy can index; got {sizes!r}")
    if ndim is not None and len(sizes) != ndim:
        raise ValueError(f"{name} must hold {ndim} sizes; got {sizes!r}")
    return sizes

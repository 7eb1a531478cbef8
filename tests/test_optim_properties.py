"""Invariants of mlmath.optim on random hyperparameters, shapes, dtypes and gradients (hypothesis).

Each optimizer is one object whose pure step function runs it on private copies, so the two forms
must agree bit for bit; its state must save, restore and refuse bad input without changing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mlmath._flat import flatten, split_flat
from mlmath.optim import (
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    ExponentialDecay,
    Optimizer,
    RMSProp,
    adagrad_step,
    adam_step,
    adamw_step,
    rmsprop_step,
    sgd_step,
)

STEP = {SGD: sgd_step, AdaGrad: adagrad_step, RMSProp: rmsprop_step, Adam: adam_step, AdamW: adamw_step}
SETTINGS = settings(max_examples=40, deadline=None, database=None)

below_one = st.floats(0.0, 0.99)
momentum = st.one_of(st.just(0.0), below_one)  # 0 (no velocity slot) and the momentum variants
epsilon = st.floats(1e-8, 1e-2)
learning_rate = st.one_of(
    st.floats(1e-4, 0.5),
    st.builds(ExponentialDecay, st.floats(1e-3, 0.5), st.integers(1, 5), st.floats(0.1, 0.99), st.booleans()),
)
ADAM = {"beta_1": below_one, "beta_2": st.floats(0.0, 0.999), "epsilon": epsilon, "amsgrad": st.booleans()}
HYPER = {
    SGD: {"momentum": momentum, "nesterov": st.booleans()},
    AdaGrad: {"initial_accumulator_value": st.one_of(st.just(0.0), st.floats(0.0, 1.0)), "epsilon": epsilon},
    RMSProp: {"rho": below_one, "momentum": momentum, "epsilon": epsilon, "centered": st.booleans()},
    Adam: ADAM,
    AdamW: {**ADAM, "weight_decay": st.floats(0.0, 0.5)},
}


@st.composite
def optimizers(draw: st.DrawFn) -> tuple[type[Optimizer], dict]:
    """An optimizer class and random keyword arguments for it."""
    cls = draw(st.sampled_from(list(HYPER)))
    return cls, draw(st.fixed_dictionaries({"learning_rate": learning_rate, **HYPER[cls]}))


shape_lists = st.lists(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), min_size=1, max_size=3)
dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)


def assert_bitwise(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert a["t"] == b["t"]
    for name in a.keys() - {"t"}:
        assert len(a[name]) == len(b[name])
        for x, y in zip(a[name], b[name], strict=True):
            assert_bitwise(x, y)


def random_params(rng: np.random.Generator, shapes: list[tuple[int, ...]], dtype: type) -> list[np.ndarray]:
    return [rng.normal(size=shape).astype(dtype) for shape in shapes]


@SETTINGS
@given(case=optimizers(), shapes=shape_lists, dtype=dtypes, n_steps=st.integers(1, 5), seed=seeds)
def test_pure_step_and_stateful_optimizer_agree_bitwise(case, shapes, dtype, n_steps, seed):
    cls, hyper = case
    rng = np.random.default_rng(seed)
    params = random_params(rng, shapes, dtype)
    pure, states = [p.copy() for p in params], [None] * len(params)
    flat_p, flat_g = flatten(params), np.zeros(sum(p.size for p in params), dtype)  # a model's one buffer
    views_p, views_g = split_flat(flat_p, shapes), split_flat(flat_g, shapes)
    opt, fast = cls(**hyper), cls(**hyper)
    for _ in range(n_steps):
        grads = [rng.normal(size=shape) for shape in shapes]  # float64: both forms convert to dtype
        opt.apply_gradients(params, grads)
        for view, g in zip(views_g, grads, strict=True):
            view[...] = g
        fast.check_compatible(views_p)
        fast.apply_unchecked(views_p, views_g, (flat_p, flat_g))
        for i, g in enumerate(grads):
            given_p = pure[i].copy()
            given_state = None if states[i] is None else {k: np.copy(v) for k, v in states[i].items()}
            new_p, new_state = STEP[cls](pure[i], g, states[i], **hyper)
            assert_bitwise(pure[i], given_p)  # the pure form changed nothing it was given
            if given_state is not None:
                for k, v in given_state.items():
                    np.testing.assert_array_equal(states[i][k], v)
            pure[i], states[i] = new_p, new_state
    saved, saved_fast = opt.get_state(), fast.get_state()
    assert_same_state(saved, saved_fast)
    assert saved["t"] == opt.iterations == n_steps
    for i, (p, view) in enumerate(zip(params, views_p, strict=True)):
        assert_bitwise(p, pure[i])
        assert_bitwise(view, pure[i])
        assert p.dtype == dtype
        assert states[i]["t"] == n_steps
        for name in opt.slot_names:
            assert_bitwise(saved[name][i], states[i][name])


@SETTINGS
@given(
    case=optimizers(),
    shapes=shape_lists,
    dtype=dtypes,
    n_before=st.integers(0, 4),
    n_after=st.integers(1, 4),
    seed=seeds,
)
def test_a_restored_state_continues_bitwise(case, shapes, dtype, n_before, n_after, seed):
    cls, hyper = case
    rng = np.random.default_rng(seed)
    params = random_params(rng, shapes, dtype)
    grads = [[rng.normal(size=shape) for shape in shapes] for _ in range(n_before + n_after)]
    opt = cls(**hyper)
    for g in grads[:n_before]:
        opt.apply_gradients(params, g)
    resumed = type(opt)(**opt.get_config())
    resumed.set_state(opt.get_state())
    assert_same_state(resumed.get_state(), opt.get_state())
    copies = [p.copy() for p in params]
    for g in grads[n_before:]:
        opt.apply_gradients(params, g)
        resumed.apply_gradients(copies, g)
    for a, b in zip(params, copies, strict=True):
        assert_bitwise(a, b)
    assert_same_state(resumed.get_state(), opt.get_state())
    assert resumed.iterations == n_before + n_after


@SETTINGS
@given(case=optimizers())
def test_get_config_round_trip(case):
    cls, hyper = case
    opt = cls(**hyper)
    again = type(opt)(**opt.get_config())
    assert again.get_config() == opt.get_config() == {**cls().get_config(), **hyper}
    assert repr(again) == repr(opt)
    assert again.slot_names == opt.slot_names


MISFIT = r"state\['\w+'\](\[\d+\] must have the shape and dtype| does not fit)"  # other slots, or the parameters
SHORT = r"slot lists of state must have the same length|state\['(t'\] must be 0|\w+'\] does not fit)"


def _corrupt(kind: str, state: dict, name: str, i: int) -> tuple[dict, type[Exception], str]:
    """``state`` spoiled in one way, with the error and the message pattern it must raise."""
    bad = {k: (list(v) if k != "t" else v) for k, v in state.items()}
    label = rf"state\['{name}'\]\[{i}\]"
    a = state[name][i] if name else None
    if kind in ("nan", "inf"):
        spoiled = a.copy()
        spoiled.flat[spoiled.size // 2] = np.nan if kind == "nan" else -np.inf
        bad[name][i] = spoiled
        return bad, ValueError, rf"{label} must hold only finite values"
    if kind == "shape":
        bad[name][i] = np.zeros((*a.shape, 2), a.dtype)
        return bad, ValueError, MISFIT
    if kind == "dtype":
        bad[name][i] = a.astype(np.float32 if a.dtype == np.float64 else np.float64)
        return bad, ValueError, MISFIT
    if kind == "int":
        bad[name][i] = a.astype(np.int32)
        return bad, TypeError, rf"{label} must be a float32 or float64 numpy array; got ndarray of dtype int32"
    if kind == "length":
        bad[name] = bad[name][:i]
        return bad, ValueError, SHORT
    bad["t"] = {"t_negative": -1, "t_float": 2.0, "t_bool": True}[kind]
    return bad, (ValueError if kind == "t_negative" else TypeError), r"state\['t'\] must be an integer >= 0"


@SETTINGS
@given(case=optimizers(), shapes=shape_lists, dtype=dtypes, seed=seeds, data=st.data())
def test_a_bad_state_is_refused_and_changes_nothing(case, shapes, dtype, seed, data):
    cls, hyper = case
    rng = np.random.default_rng(seed)
    params = random_params(rng, shapes, dtype)
    opt, twin, twin_params = cls(**hyper), cls(**hyper), [p.copy() for p in params]
    for _ in range(2):
        g = [rng.normal(size=shape) for shape in shapes]
        opt.apply_gradients(params, g)
        twin.apply_gradients(twin_params, g)
    before = opt.get_state()
    kinds = ["t_negative", "t_float", "t_bool"]
    if opt.slot_names:
        kinds += ["nan", "inf", "shape", "dtype", "int", "length"]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    name = data.draw(st.sampled_from(opt.slot_names), label="slot") if opt.slot_names else ""
    i = data.draw(st.integers(0, len(shapes) - 1), label="index")
    if kind in ("nan", "inf") and before[name][i].size == 0:
        kind = "int"  # an empty array holds no value to spoil
    bad, exc, pattern = _corrupt(kind, before, name, i)
    with pytest.raises(exc, match=pattern):
        opt.set_state(bad)
    assert_same_state(opt.get_state(), before)
    # and it goes on exactly as an optimizer that was never given the bad state
    g = [rng.normal(size=shape) for shape in shapes]
    opt.apply_gradients(params, g)
    twin.apply_gradients(twin_params, g)
    for a, b in zip(params, twin_params, strict=True):
        assert_bitwise(a, b)


@SETTINGS
@given(
    case=optimizers(),
    shapes=st.lists(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), min_size=1, max_size=3),
    dtype=dtypes,
    bad_value=st.sampled_from([np.nan, np.inf, -np.inf]),
    seed=seeds,
    data=st.data(),
)
def test_a_non_finite_parameter_is_refused_and_nothing_changes(case, shapes, dtype, bad_value, seed, data):
    cls, hyper = case
    rng = np.random.default_rng(seed)
    params = random_params(rng, shapes, dtype)
    opt = cls(**hyper)
    opt.apply_gradients(params, [rng.normal(size=shape) for shape in shapes])
    i = data.draw(st.integers(0, len(shapes) - 1), label="index")
    params[i].flat[data.draw(st.integers(0, params[i].size - 1), label="entry")] = bad_value
    before, state = [p.copy() for p in params], opt.get_state()
    with pytest.raises(ValueError, match=rf"params\[{i}\] must hold only finite values; got 1 NaN or infinite"):
        opt.apply_gradients(params, [rng.normal(size=shape) for shape in shapes])
    for a, b in zip(params, before, strict=True):
        assert_bitwise(a, b)
    assert_same_state(opt.get_state(), state)

"""Hostile input (issue 4): settings of every wrong type and size are either
accepted as valid settings or refused with one ValueError line naming the
setting (SPEC §6), never another exception; absurd sizes are refused up front;
--x64 works end to end.

The fuzz tests are derandomized and database-free, so every run (CI included)
draws the same examples. They construct settings only: nothing is compiled.
"""

import dataclasses
import importlib
import json
import math
import subprocess
import sys
import types
import typing
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxcollapse.config import check_integer, check_number, validate_run
from jaxcollapse.models import FAMILIES
from jaxcollapse.workflows import WORKFLOWS
from tests.conftest import z_limit

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Words the settings take, so that valid strings turn up too.
WORDS = (
    ["scott", "normal", "moons", "circles", "blobs", "finetune", "scratch"]
    + ["truth", "model", "auto", "on", "off", "replace", "mix", "fresh"]
    + ["", "1", "2.5", "nan", "inf", "-1", "None", "True"]
)

small_ints = st.integers(-3, 40)
HOSTILE = st.one_of(
    small_ints,
    st.integers(),
    st.sampled_from([2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63)]),
    st.sampled_from([10**18, 10**30, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0.0, 2.0),
    small_ints.map(float),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 5e-324, -0.0, 1e-300]),
    st.booleans(),
    st.sampled_from([np.True_, np.False_]),
    st.none(),
    st.text(max_size=4),
    st.sampled_from(WORDS),
    small_ints.map(np.int64),
    small_ints.map(np.int32),
    st.integers(0, 40).map(np.uint8),
    st.integers(0, 2**64 - 1).map(np.uint64),
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.floats(0.0, 2.0, width=32).map(np.float32),
    st.sampled_from([np.float16(0.5), np.longdouble(0.5), np.float32(np.nan)]),
    st.complex_numbers(max_magnitude=10),
    st.fractions(min_value=-2, max_value=2, max_denominator=7),
    st.sampled_from([Decimal("0.5"), Decimal("2"), Decimal("NaN")]),
    st.lists(
        st.one_of(small_ints, st.floats(), st.booleans(), st.text(max_size=2)),
        max_size=3,
    ),
    st.sampled_from([[], (), {}, set(), [[]], [[0.5]], object(), b"1", str]),
    st.sampled_from([np.array(2), np.array(0.5), np.array([]), np.array([1, 2])]),
    st.sampled_from([np.array(["scott"]), np.array([0.5, 0.7])]),
)


def _kinds(annotation) -> tuple:
    """The types a field of a family may hold once constructed: int for int,
    float for float (ints and NumPy numbers are converted), str for str."""
    if isinstance(annotation, (types.UnionType,)) or typing.get_origin(annotation):
        return tuple(k for a in typing.get_args(annotation) for k in _kinds(a))
    return (annotation,)


def _assert_refusal(err: ValueError, names) -> None:
    """One line that names one of the settings passed."""
    message = str(err)
    assert message and "\n" not in message, repr(message)
    # The setting must be named before the echo of the bad value ("got ...").
    head = message.split("got ")[0]
    assert any(name in head for name in names), (names, message)


def _assert_valid_family(model, kwargs) -> None:
    for field in dataclasses.fields(model):
        value = getattr(model, field.name)
        kinds = _kinds(field.type)
        assert type(value) in kinds, (field.name, type(value), kinds)
        if isinstance(value, float):
            assert math.isfinite(value), (field.name, value)
        if field.name in kwargs:
            given_value = kwargs[field.name]
            if isinstance(value, str):
                assert value == given_value and type(given_value) is str
            elif isinstance(value, float):  # stored as given, up to the type
                assert value == float(given_value), (field.name, given_value)
            else:
                assert value == given_value, (field.name, given_value, value)
    # A valid family is usable as settings: hashable, JSON-able, sized.
    hash(model)
    json.dumps({f.name: getattr(model, f.name) for f in dataclasses.fields(model)})
    fewest = model.min_samples()
    assert type(fewest) is int and fewest >= 1
    names = model.metric_names
    assert names and all(isinstance(n, str) for n in names)
    for hook in ("point_floats", "fixed_floats"):
        if hasattr(model, hook):
            floats = getattr(model, hook)()
            assert type(floats) is int and floats >= 0, (hook, floats)


@st.composite
def family_settings(draw, cls):
    fields = [f.name for f in dataclasses.fields(cls)]
    chosen = draw(st.lists(st.sampled_from(fields), min_size=1, unique=True))
    return {name: draw(HOSTILE) for name in chosen}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_settings_are_valid_or_refused_by_name(family):
    cls = FAMILIES[family]

    @FUZZ
    @given(family_settings(cls))
    def check(kwargs):
        try:
            model = cls(**kwargs)
        except ValueError as err:
            _assert_refusal(err, list(kwargs))
        else:
            _assert_valid_family(model, kwargs)

    check()


INT_FIELDS = [
    (family, f.name)
    for family, cls in FAMILIES.items()
    for f in dataclasses.fields(cls)
    if f.type is int
]
FLOAT_FIELDS = [
    (family, f.name)
    for family, cls in FAMILIES.items()
    for f in dataclasses.fields(cls)
    if float in _kinds(f.type)
]


@pytest.mark.parametrize("family, field", INT_FIELDS)
@pytest.mark.parametrize("kind", [int, np.int64, np.int32, np.uint16])
def test_numpy_integers_are_accepted_as_integers(family, field, kind):
    cls = FAMILIES[family]
    default = next(f.default for f in dataclasses.fields(cls) if f.name == field)
    model = cls(**{field: kind(default)})
    value = getattr(model, field)
    assert type(value) is int and value == default
    assert model == cls() and hash(model) == hash(cls())


@pytest.mark.parametrize("family, field", FLOAT_FIELDS)
@pytest.mark.parametrize("kind", [int, np.int64, np.float32, np.float64])
def test_integers_and_numpy_numbers_are_accepted_as_floats(family, field, kind):
    cls = FAMILIES[family]
    number = 0 if field == "factor" else 1  # factor lies in [0, 1)
    model = cls(**{field: kind(number)})
    value = getattr(model, field)
    assert type(value) is float and value == number


@pytest.mark.parametrize("family, field", INT_FIELDS + FLOAT_FIELDS)
@pytest.mark.parametrize("flag", [True, False, np.True_])
def test_bools_are_refused_as_numbers(family, field, flag):
    with pytest.raises(ValueError, match=field) as info:
        FAMILIES[family](**{field: flag})
    assert "\n" not in str(info.value)


def test_check_helpers_on_extremes():
    assert check_integer("n", np.int64(5), 1) == 5
    assert type(check_integer("n", np.uint64(2**63), 1)) is int
    assert check_number("x", 10**3, 0) == 1000.0
    for bad in (10**400, -(10**400), math.nan, math.inf, True, "1", None, 1j):
        with pytest.raises(ValueError, match="^x must be"):
            check_number("x", bad)
    for bad in (2.0, True, np.True_, "2", None, [], np.float64(2)):
        with pytest.raises(ValueError, match="^n must be an integer"):
            check_integer("n", bad, 1, 10)


# -- validate_run ------------------------------------------------------------

RUN_DEFAULTS = dict(
    num_samples=20,
    num_generations=3,
    num_chains=8,
    seed=0,
    num_real=None,
    num_test=50,
    temperature=1.0,
    real_weight=None,
    exact_path="auto",
    chunk_size=None,
    keep_trajectories=0,
    verify=None,
    keep_fraction=1.0,
)
MODELS = [cls() for cls in FAMILIES.values()]
WORKFLOW_VALUES = st.one_of(st.sampled_from(list(WORKFLOWS)), HOSTILE)
RUN_VALUES = {
    "temperature": st.one_of(
        HOSTILE, st.lists(st.one_of(st.floats(0.1, 2), HOSTILE), max_size=3)
    ),
    "real_weight": st.one_of(
        st.floats(0, 1), HOSTILE, st.lists(st.floats(-0.5, 1.5), max_size=3)
    ),
    "verify": st.one_of(st.sampled_from([None, "truth", "model"]), HOSTILE),
    "keep_fraction": st.one_of(st.floats(0, 1.5), HOSTILE),
    "exact_path": st.one_of(st.sampled_from(["auto", "on", "off"]), HOSTILE),
}


@st.composite
def run_settings(draw):
    model = draw(st.sampled_from(MODELS))
    workflow = draw(WORKFLOW_VALUES)
    chosen = draw(st.lists(st.sampled_from(list(RUN_DEFAULTS)), unique=True))
    kwargs = dict(RUN_DEFAULTS)
    for name in chosen:
        kwargs[name] = draw(RUN_VALUES.get(name, HOSTILE))
    return model, workflow, kwargs, chosen


@FUZZ
@given(run_settings())
def test_run_settings_are_valid_or_refused_by_name(case):
    model, workflow, kwargs, chosen = case
    try:
        out = validate_run(model, workflow, **kwargs)
    except ValueError as err:
        _assert_refusal(err, ["workflow", "model", *chosen])
        return
    assert out["workflow"] in WORKFLOWS and out["model"] == model.name
    for name in ("num_samples", "num_real", "num_generations", "num_chains"):
        assert type(out[name]) is int, (name, out[name])
    for name in ("seed", "num_test", "keep_trajectories"):
        assert type(out[name]) is int, (name, out[name])
    assert out["num_samples"] >= model.min_samples()
    assert out["num_real"] >= model.min_samples()
    assert 0 <= out["keep_trajectories"] <= out["num_chains"]
    assert 0 <= out["seed"] < 2**63
    assert type(out["exact_path"]) is bool
    if "keep_fraction" in out:
        assert 0 < out["keep_fraction"] <= 1
    temps = np.atleast_1d(np.asarray(kwargs["temperature"], dtype=np.float64))
    assert temps.ndim == 1 and temps.size and np.all(np.isfinite(temps) & (temps > 0))
    for value in np.ravel(kwargs["temperature"]):
        assert not isinstance(value, (bool, np.bool_, str))
    json.dumps(out, allow_nan=False)  # plain Python values only


@pytest.mark.parametrize("kind", [np.int64, np.int32, int])
def test_validate_run_accepts_numpy_integers(kind):
    out = validate_run(
        MODELS[0],
        "replace",
        **{
            **RUN_DEFAULTS,
            **{k: kind(RUN_DEFAULTS[k]) for k in ("num_samples", "num_chains")},
            "num_real": kind(30),
            "chunk_size": kind(8),
            "temperature": [kind(1), 0.5],
        },
    )
    assert out["num_samples"] == 20 and type(out["num_samples"]) is int
    assert out["num_real"] == 30 and type(out["num_real"]) is int


@pytest.mark.parametrize(
    "setting, value",
    [
        ("temperature", True),
        ("temperature", [1.0, True]),
        ("temperature", "1.5"),
        ("temperature", ["1.5"]),
        ("temperature", 1 + 0j),
        ("temperature", 10**400),
        ("keep_fraction", True),
        ("keep_fraction", np.float32(1.5)),
        ("num_chains", 2**40),
        ("num_generations", 2**40),
        ("num_samples", 2**40),
    ],
)
def test_validate_run_refuses(setting, value):
    kwargs = {**RUN_DEFAULTS, setting: value}
    if setting == "keep_fraction":
        kwargs["verify"] = "truth"
    with pytest.raises(ValueError, match=setting):
        validate_run(MODELS[0], "replace", **kwargs)


# -- absurd sizes --------------------------------------------------------------


def test_absurd_size_is_refused_before_compiling(monkeypatch):
    """num_samples = 10**9 with accumulate (2 * 10**9 points: within the int32
    counts validate_run allows) and dim 100: one chain alone needs terabytes, so
    the memory check refuses it with one line naming num_samples before
    anything is traced or compiled (the jitted entry points are traps here)."""
    import jaxcollapse as jc

    sim = importlib.import_module("jaxcollapse.simulate")  # the module

    def trap(*args, **kwargs):
        raise AssertionError("reached compilation: no up-front refusal")

    monkeypatch.setattr(sim, "_init_chunk", trap)
    monkeypatch.setattr(sim, "_advance_chunk", trap)
    with pytest.raises(ValueError, match="num_samples") as info:
        jc.simulate(
            jc.Gaussian(dim=100),
            "accumulate",
            num_samples=10**9,
            num_generations=1,
            num_chains=1,
            exact_path="off",
        )
    assert "\n" not in str(info.value)


# -- --x64 end to end ----------------------------------------------------------

X64_GENERATIONS = (1, 5, 10)
X64_METRICS = 8  # every Gaussian d = 1 metric could have a theory
# Budget: ALPHA_MODULE (conftest) split by Bonferroni over at most
# X64_METRICS * len(X64_GENERATIONS) z-scores (|z| < about 4.6).
X64_Z = z_limit(X64_METRICS * len(X64_GENERATIONS))


def test_x64_run_end_to_end_agrees_with_theory(tmp_path):
    """`run --x64` agrees with theory at the first generations and, 1000
    generations on (E log var about -115, far below float32's range), keeps
    every number finite: in float32 the test NLL of so collapsed a model
    overflows to inf, here it is finite and above float32's largest."""
    path = tmp_path / "x64.json"
    done = subprocess.run(
        [sys.executable, "-m", "jaxcollapse.cli", "run"]
        + ["--model", "gaussian", "--workflow", "replace", "--ddof", "1"]
        + ["--num-samples", "10", "--generations", "1000", "--chains", "4000"]
        + ["--seed", "3", "--x64", "--no-progress", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(path.read_text())
    config = data["config"]
    assert config["x64"] is True and config["model"] == "gaussian"
    assert config["ddof"] == 1 and config["num_chains"] == 4000
    assert data["generations"] == list(range(1001))
    assert data["metrics"]["test_nll"]["mean"][-1] > 1e38
    for name, stat in data["metrics"].items():
        assert not any(stat["nonfinite"]), name
        for key, values in stat.items():
            assert all(v is not None and math.isfinite(v) for v in values), (name, key)
    theory = data["theory"]
    assert {"var", "std"} <= set(theory), theory.keys()
    assert len(theory) <= X64_METRICS
    for name, expected in theory.items():
        stat = data["metrics"][name]
        for t in X64_GENERATIONS:
            z = (stat["mean"][t] - expected[t]) / stat["sem"][t]
            assert abs(z) < X64_Z, f"{name} at generation {t}: z = {z:.2f}"

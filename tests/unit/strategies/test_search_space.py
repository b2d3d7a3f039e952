"""SearchSpace: scaling round trips, legality, rendering, warm-start robustness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.errors import ValidationError
from orchestrator.strategies.space import SearchSpace, parameter_range_problems

RANGES = {
    "IntegerParameterRanges": [
        {"Name": "depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Linear"},
        {"Name": "units", "MinValue": "4", "MaxValue": "1024", "ScalingType": "Logarithmic"},
    ],
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "1e-05", "MaxValue": "1", "ScalingType": "Logarithmic"},
        {"Name": "mom", "MinValue": "0", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
        {"Name": "drop", "MinValue": "-1", "MaxValue": "0.5", "ScalingType": "Auto"},
    ],
    "CategoricalParameterRanges": [
        {"Name": "opt", "Values": ['"adam"', '"sgd"', "rms prop"]},
    ],
}


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_parameter_ranges(RANGES)


def test_names_in_request_order_and_encoded_dim(space):
    assert space.names == ["depth", "units", "lr", "mom", "drop", "opt"]
    assert space.dim == 5 + 3
    assert space.column_groups().tolist() == [0, 1, 2, 3, 4, 5, 5, 5]
    assert not space.is_discrete and space.size() is None


def test_samples_are_legal_and_rendered_as_sagemaker_does(space):
    rng = np.random.default_rng(0)
    for p in space.sample(rng, 300):
        assert set(p) == set(space.names)
        assert p["depth"] == str(int(p["depth"])) and 1 <= int(p["depth"]) <= 10
        assert "." not in p["units"] and 4 <= int(p["units"]) <= 1024
        assert 1e-5 <= float(p["lr"]) <= 1 and p["lr"] == repr(float(p["lr"]))
        assert 0 <= float(p["mom"]) <= 0.999
        assert -1 <= float(p["drop"]) <= 0.5
        assert p["opt"] in ('"adam"', '"sgd"', "rms prop")  # byte-for-byte


@pytest.mark.parametrize("seed", range(5))
def test_unit_round_trip_is_identity_on_legal_configurations(space, seed):
    for p in space.sample(np.random.default_rng(seed), 50):
        x = space.to_unit(p)
        assert x.shape == (space.dim,) and np.all((x >= 0) & (x <= 1))
        back = space.from_unit(x)
        assert back["depth"] == p["depth"] and back["units"] == p["units"]
        assert back["opt"] == p["opt"]
        for name in ("lr", "mom", "drop"):
            assert math.isclose(float(back[name]), float(p[name]), rel_tol=1e-9, abs_tol=1e-12)
        np.testing.assert_allclose(space.project(x[None, :])[0], x, atol=1e-12)


def test_from_unit_is_legal_for_any_input(space):
    rng = np.random.default_rng(1)
    for x in rng.normal(0.5, 2.0, size=(200, space.dim)):
        p = space.from_unit(x)
        assert 1 <= int(p["depth"]) <= 10 and 4 <= int(p["units"]) <= 1024
        assert 1e-5 <= float(p["lr"]) <= 1 and 0 <= float(p["mom"]) <= 0.999


def test_log_scaling_is_uniform_in_log_space():
    space = SearchSpace.from_parameter_ranges({"ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "1e-4", "MaxValue": "1", "ScalingType": "Logarithmic"}]})
    lr = np.array([float(p["lr"]) for p in space.sample(np.random.default_rng(0), 4000)])
    frac_below = np.mean(lr < 1e-2)  # half of the log range
    assert 0.46 < frac_below < 0.54


def test_reverse_log_concentrates_near_one():
    space = SearchSpace.from_parameter_ranges({"ContinuousParameterRanges": [
        {"Name": "b", "MinValue": "0", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"}]})
    b = np.array([float(p["b"]) for p in space.sample(np.random.default_rng(0), 4000)])
    # -log(1 - b) uniform on [0, log 1000]: b > 0.9 on two thirds of that interval
    assert 0.62 < np.mean(b > 0.9) < 0.71


def test_linear_integers_get_equal_mass():
    space = SearchSpace.from_parameter_ranges({"IntegerParameterRanges": [
        {"Name": "k", "MinValue": "1", "MaxValue": "4", "ScalingType": "Linear"}]})
    counts = np.bincount([int(p["k"]) for p in space.sample(np.random.default_rng(0), 4000)])
    assert counts[0] == 0 and np.all(np.abs(counts[1:] / 4000 - 0.25) < 0.03)


def test_auto_is_linear_and_nonpositive_min_stays_linear():
    space = SearchSpace.from_parameter_ranges({"ContinuousParameterRanges": [
        {"Name": "a", "MinValue": "1", "MaxValue": "1000", "ScalingType": "Auto"}]})
    a = np.array([float(p["a"]) for p in space.sample(np.random.default_rng(0), 4000)])
    assert 0.45 < np.mean(a < 500) < 0.55


def test_out_of_range_and_missing_values_are_clipped_or_centered(space):
    parent = {"depth": "50", "units": "2", "lr": "-3", "mom": "1.5", "opt": "nadam"}
    x = space.to_unit(parent)
    assert np.all((x >= 0) & (x <= 1))
    assert x[0] == pytest.approx(1.0) and x[1] == pytest.approx(0.0)
    assert x[4] == pytest.approx(space.to_unit({"drop": "-0.25"})[4])  # missing -> center
    np.testing.assert_allclose(x[5:], 1 / 3)  # unknown category: no preference
    x2 = space.to_unit({}, defaults={"drop": "0.5"})
    assert x2[4] == pytest.approx(1.0)
    assert space.to_unit({"depth": "7.0"})[0] == space.to_unit({"depth": "7"})[0]
    np.testing.assert_allclose(space.to_unit_many([parent, {}])[0], x)


def test_discrete_space_size_enumeration_and_keys():
    space = SearchSpace.from_parameter_ranges({
        "CategoricalParameterRanges": [{"Name": "a", "Values": ["x", "y", "x"]}],
        "IntegerParameterRanges": [{"Name": "k", "MinValue": "2", "MaxValue": "4"}]})
    assert space.is_discrete and space.size() == 2 * 3
    grid = space.enumerate()
    assert grid[0] == {"a": "x", "k": "2"} and len({space.key(g) for g in grid}) == 6
    assert space.key({"a": "x", "k": "3.0"}) == space.key({"a": "x", "k": "3"})


@pytest.mark.parametrize("bad, fragment", [
    ({"IntegerParameterRanges": [{"Name": "k", "MinValue": "0", "MaxValue": "5",
                                  "ScalingType": "Logarithmic"}]}, "MinValue > 0"),
    ({"IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "5",
                                  "ScalingType": "ReverseLogarithmic"}]}, "not allowed"),
    ({"ContinuousParameterRanges": [{"Name": "b", "MinValue": "0.5", "MaxValue": "1",
                                     "ScalingType": "ReverseLogarithmic"}]}, "< 1"),
    ({"IntegerParameterRanges": [{"Name": "k", "MinValue": "1.5", "MaxValue": "5"}]},
     "integers"),
    ({"ContinuousParameterRanges": [{"Name": "c", "MinValue": "2", "MaxValue": "1"}]},
     "must not exceed"),
    ({"ContinuousParameterRanges": [{"Name": "c", "MinValue": "0", "MaxValue": "1",
                                     "ScalingType": "Cubic"}]}, "ScalingType"),
    ({}, "at least one"),
])
def test_invalid_ranges_are_rejected_with_a_reason(bad, fragment):
    problems = parameter_range_problems(bad)
    assert any(fragment in p for p in problems), problems
    with pytest.raises(ValidationError, match="validation error"):
        SearchSpace.from_parameter_ranges(bad)


@pytest.mark.parametrize("integer", [False, True])
def test_encoding_many_parses_like_parse_one_by_one(integer: bool):
    """to_unit_many converts a column with one numpy call when it can: the same values as
    `parse` value by value (round half to even for integers; the centre for a missing,
    unparsable or non-finite value), so seeded runs reproduce."""
    from orchestrator.strategies.space import _parse_many

    kind = "IntegerParameterRanges" if integer else "ContinuousParameterRanges"
    p = SearchSpace.from_parameter_ranges({kind: [
        {"Name": "a", "MinValue": "1", "MaxValue": "1000", "ScalingType": "Logarithmic"}]}
    ).params[0]
    rng = np.random.default_rng(0)
    numbers = [repr(float(x)) for x in rng.random(500) * 1000] + [
        "2.5", "3.5", "-0.5", "7", "1e-300", " 4.25 ", "inf", "nan", 12, 3.5]
    for raws in (numbers, numbers + [None], numbers + ["abc"]):
        one_by_one = [p.parse(r) if r is not None else None for r in raws]
        expected = [p.center() if v is None else v for v in one_by_one]
        assert _parse_many(p, raws).tolist() == expected

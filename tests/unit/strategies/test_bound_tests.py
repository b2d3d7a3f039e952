"""Bound tests (bayesian/bound_tests.py, issue 14's seventeenth session): which bound is tried
next, what counts as tried near the incumbent, and the strategy giving a batch's launch
index 2 mod 4 to the test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.strategies import Observation, SearchSpace
from orchestrator.strategies.bayesian import BayesianStrategy
from orchestrator.strategies.bayesian import strategy as strategy_module
from orchestrator.strategies.bayesian.bound_tests import NEAR, SLOT, bound_test
from tests.unit.strategies.test_bayesian_candidates import SPACE  # lr log, x, k int, c cat

INCUMBENT = {"lr": "0.01", "x": "0.0", "k": "4", "c": "b"}  # lr at 0.5, x at 0.4, k near 1


def _test(ls: list[float], launched=(), incumbent=INCUMBENT, threshold: float = 1.0):
    space = SearchSpace.from_parameter_ranges(SPACE)
    return bound_test(space, space.to_unit(incumbent), np.array(ls), list(launched), set(),
                      threshold)


def _moved(config, **changes):
    """config is INCUMBENT with `changes` (the others equal up to the encoding's rounding)."""
    assert config is not None
    assert {k: config[k] for k in changes} == changes
    for k, v in INCUMBENT.items():
        if k not in changes:
            assert config[k] == v if k == "c" else float(config[k]) == pytest.approx(float(v))


def test_the_longest_scale_goes_first_onto_its_farther_bound():
    # x (0.4 of its range) goes to its upper bound; k (near its top) to its lower one
    _moved(_test([0.3, 2.0, 1.5]), x="3.0")
    _moved(_test([0.3, 1.5, 2.0]), k="1")


def test_scales_below_the_threshold_are_never_tested():
    assert _test([0.9, 0.5, 0.99]) is None
    _moved(_test([0.9, 0.5, 0.99], threshold=0.95), k="1")


def test_a_bound_tried_near_the_incumbent_is_not_tried_again():
    far = {**INCUMBENT, "x": "3.0"}
    _moved(_test([0.3, 2.0, 0.1], [far]), x="-2.0")  # then the nearer bound
    assert _test([0.3, 2.0, 0.1], [far, {**INCUMBENT, "x": "-2.0"}]) is None
    # close enough: lr within NEAR of the incumbent's (unit scale: log10 lr / 4 + 1)
    close = {**far, "lr": repr(10 ** (-2 + 4 * 0.9 * NEAR))}
    assert _test([0.3, 2.0, 0.1], [close, {**INCUMBENT, "x": "-2.0"}]) is None


@pytest.mark.parametrize("other", [
    {"lr": repr(10 ** (-2 + 4 * 1.1 * NEAR))},  # farther than NEAR in another coordinate
    {"c": "a"},  # another categorical level
    {"x": "2.99"},  # not on the bound
])
def test_a_launch_unlike_the_test_does_not_count_as_tried(other):
    _moved(_test([0.3, 2.0, 0.1], [{**INCUMBENT, "x": "3.0", **other}]), x="3.0")


def test_a_coordinate_the_incumbent_holds_on_a_bound_is_skipped():
    on_bound = {**INCUMBENT, "x": "3.0"}
    config = _test([0.3, 2.0, 1.5], incumbent=on_bound)
    assert config is not None and (config["x"], config["k"]) == ("3.0", "1")


def test_an_integer_bound_counts_as_tried_through_its_rendered_value():
    _moved(_test([0.3, 0.1, 2.0], [{**INCUMBENT, "k": "1"}]), k="5")


def _irrelevant_x_history(n: int) -> tuple[SearchSpace, list[Observation]]:
    """y depends on u only: the GP learns a long length scale for x."""
    space = SearchSpace.from_parameter_ranges({"ContinuousParameterRanges": [
        {"Name": "u", "MinValue": "0", "MaxValue": "1"},
        {"Name": "x", "MinValue": "0", "MaxValue": "1"}]})
    rng = np.random.default_rng(1)
    pts = [{"u": repr(float(u)), "x": repr(float(x))} for u, x in rng.uniform(0.2, 0.8, (n, 2))]
    return space, [Observation(p, (float(p["u"]) - 0.5) ** 2, end_order=i)
                   for i, p in enumerate(pts)]


def test_the_batch_pick_at_launch_index_2_mod_4_is_the_test_and_no_other_is(monkeypatch):
    space, history = _irrelevant_x_history(18)  # launches 0-17: the next is 18, 2 mod 4
    assert len(history) % 4 == SLOT
    best = min(history, key=lambda o: o.value).params
    x_end = "1.0" if float(best["x"]) < 0.5 else "0.0"
    test = {**best, "x": x_end}
    s = BayesianStrategy(space, maximize=False, seed=0, bound_tests=1.0)
    picks = s.suggest(history, [], 4)
    assert picks[0] == test
    assert test not in picks[1:]
    # other launch indices (16, 17 here) never test; sequential: never; on by default, off
    # with bound_tests = inf
    tests: list[dict] = []
    real = strategy_module.bound_test

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        tests.append(got := real(*args, **kwargs))
        return got

    monkeypatch.setattr(strategy_module, "bound_test", spy)
    s.suggest(history[:-2], [], 2)
    assert tests == []
    s.suggest(history, [], 4)
    assert tests == [test]
    monkeypatch.undo()
    assert s.suggest(history, [], 1)[0] != test
    assert BayesianStrategy(space, maximize=False, seed=0).suggest(history, [], 4)[0] == test
    off = BayesianStrategy(space, maximize=False, seed=0, bound_tests=math.inf)
    assert off.suggest(history, [], 4)[0] != test

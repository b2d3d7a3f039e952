"""The boundary refinement tool (benchmarks/strategy_refine.py): which launches hold both
walls, where a state ends, and that continuing a run with its own optimizer reproduces it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from strategy_refine import OPTIMUM, continue_from, holds_both_walls, state  # noqa: E402


def _point(a: str, b: str) -> dict:
    return {"a": a, "b": b, "c": "3.14", "d": "2.27"}


def test_both_walls_need_both_bounds_exactly() -> None:
    assert holds_both_walls(_point("1.0", "0.0001"))
    assert not holds_both_walls(_point("0.99", "0.0001"))  # the wall's value falls off fast
    assert not holds_both_walls(_point("1.0", "0.0002"))
    assert not holds_both_walls(_point("0.35", "1.0"))


def test_state_ends_with_the_round_that_first_holds_both_walls() -> None:
    run = [(_point("0.5", "0.5"), 1.0)] * 48
    run[9] = (_point("1.0", "0.0001"), -0.3)
    assert len(state(run, before=28) or []) == 12  # round 3 (launches 8-11) ends at 12
    assert state(run, before=9) is None  # found too late for this bound
    assert state([(_point("0.5", "0.5"), 1.0)] * 48, before=28) is None


def test_continuing_with_the_same_optimizer_reproduces_its_run() -> None:
    from strategy_refine import trace

    run = trace("smlocal-random", 3)
    history = run[:16]
    assert continue_from("smlocal-random", 3, history) == min(v for _, v in run) - OPTIMUM

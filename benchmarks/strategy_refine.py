"""How well optimizers refine the boundary problem from the same states (issue 14, trap 3;
strategy-notes.md, seventeenth and eighteenth sessions).

    python3 benchmarks/strategy_refine.py --states optuna-gp --seeds 60 \\
        --continue-with smlocal-bayesian "smlocal-bayesian[mean_q=-1.0,warp_outputs=0]"

Runs the `--states` optimizer on `boundary` as the benchmark's par4x12 budget does (12 asks
of 4, each round told before the next). A run's state is its history up to the end of the
round in which a launched point first held both walls (a on its upper bound, b on its lower:
their two terms sum to -0.4), if that is before launch `--before` (28). Each
`--continue-with` optimizer (the `--states` one included, as a control) is told that
history and asked 4 at a time up to 48 launches. Printed per optimizer: the final excess
over the optimum -0.4, mean +- standard error, median, and the share of runs below 0.001
(one score point is 0.0084 of excess: R - f* with R from random search's seeds 0-19), and
the `--states` optimizer's own runs on the same seeds. With `--states` = the continuing
optimizer, the difference from its own runs is seed noise (another rng from the state on).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from strategy_optimizers import OptunaOpt, make_optimizer  # noqa: E402
from strategy_problems import PROBLEMS, _wall  # noqa: E402
from strategy_report import BUDGETS  # noqa: E402

from orchestrator.strategies import SearchSpace  # noqa: E402

PROBLEM = PROBLEMS["boundary"]
OPTIMUM = -0.4
BATCH = BUDGETS["par4x12"][1]
LAUNCHES = BUDGETS["par4x12"][0] * BATCH
SCORE_POINT = 0.0084  # excess per score point on boundary par4x12 (R - f* = 0.84)


def holds_both_walls(config: dict) -> bool:
    """Both wall terms at their bound values (-0.2 each): a = 1 and b = 1e-4."""
    a, tb = float(config["a"]), (math.log10(float(config["b"])) + 4) / 4
    return _wall(a) + _wall(1 - tb) < 2 * _wall(1.0) + 1e-3


def _round(opt: Any) -> list[tuple[dict, float]]:
    """One par4x12 round: ask BATCH, evaluate them, tell them."""
    configs = opt.ask(BATCH)
    values = [PROBLEM.objective(c) for c in configs]
    opt.tell(configs, values)
    return list(zip(configs, values, strict=True))


def trace(optimizer: str, seed: int) -> list[tuple[dict, float]]:
    """One par4x12 run: the launched configurations with their values, in launch order."""
    opt = make_optimizer(optimizer, PROBLEM, seed, parallel=True)
    out: list[tuple[dict, float]] = []
    while len(out) < LAUNCHES:
        out += _round(opt)
    return out


def state(run: list[tuple[dict, float]], before: int) -> list[tuple[dict, float]] | None:
    """The history up to the end of the round that first held both walls, or None."""
    first = next((i for i, (c, _) in enumerate(run) if holds_both_walls(c)), None)
    if first is None or first >= before:
        return None
    return run[: (first // BATCH + 1) * BATCH]


def _tell_optuna(opt: OptunaOpt, history: list[tuple[dict, float]]) -> None:
    """Optuna's study learns a history through finished trials (no ask to answer)."""
    import optuna
    from optuna.distributions import FloatDistribution

    space = SearchSpace.from_parameter_ranges(PROBLEM.ranges)
    dists = {p.name: FloatDistribution(p.low, p.high, log=p.scaling == "Logarithmic")
             for p in space.params}
    for config, value in history:
        opt.study.add_trial(optuna.trial.create_trial(
            params={k: float(v) for k, v in config.items()}, distributions=dists, value=value))


def continue_from(optimizer: str, seed: int, history: list[tuple[dict, float]]) -> float:
    """Final excess over the optimum after continuing `history` to LAUNCHES."""
    opt: Any = make_optimizer(optimizer, PROBLEM, seed, parallel=True)
    if isinstance(opt, OptunaOpt):
        _tell_optuna(opt, history)
    else:
        opt.tell([c for c, _ in history], [v for _, v in history])
    run = list(history)
    while len(run) < LAUNCHES:
        run += _round(opt)
    return min(v for _, v in run) - OPTIMUM


def _job(args: tuple) -> tuple:
    kind, optimizer, seed, payload = args
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    if kind == "trace":
        return seed, trace(optimizer, seed)
    return optimizer, seed, continue_from(optimizer, seed, payload)


def summary(label: str, excess: list[float]) -> str:
    e = np.array(excess)
    se = e.std(ddof=1) / math.sqrt(e.size) if e.size > 1 else float("nan")
    return (f"{label}: n={e.size} excess mean {e.mean():.4f} +- {se:.4f} "
            f"({e.mean() / SCORE_POINT:.2f} score points), median {np.median(e):.4f}, "
            f"below 0.001 in {100 * np.mean(e < 1e-3):.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", required=True, help="optimizer whose runs give the states")
    parser.add_argument("--continue-with", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--before", type=int, default=28)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with Pool(args.workers) as pool:
        runs = dict(pool.map(_job, [("trace", args.states, s, None) for s in range(args.seeds)]))
        states = {s: st for s, run in runs.items() if (st := state(run, args.before))}
        own = [min(v for _, v in runs[s]) - OPTIMUM for s in sorted(states)]
        print(f"{len(states)} of {args.seeds} runs of {args.states} hold both walls before "
              f"launch {args.before}; state: median {np.median([len(h) for h in states.values()]):.0f} "
              "launches", flush=True)
        print(summary(f"{args.states}, its own runs", own), flush=True)
        for optimizer in args.continue_with:
            done = pool.map(_job, [("continue", optimizer, s, h) for s, h in states.items()])
            print(summary(f"continued by {optimizer}", [e for _, _, e in done]), flush=True)


if __name__ == "__main__":
    main()

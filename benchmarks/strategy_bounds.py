"""Where an optimizer's parallel picks go: the share of picks with k coordinates exactly on a
range bound (issue 14, trap 3; strategy-notes.md, eleventh session).

    python3 benchmarks/strategy_bounds.py --problem boundary --optimizer optuna-gp --seeds 10

Drives the optimizer as the benchmark's par4x12 budget does (12 asks of 4, each told before
the next ask) and counts the model-based rounds only (3-12: the first two are the initial
design). Prints one line per seed (seed, best value, counts by k) and the shares over all.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from strategy_optimizers import make_optimizer  # noqa: E402
from strategy_problems import PROBLEMS  # noqa: E402
from strategy_report import BUDGETS  # noqa: E402

from orchestrator.strategies import SearchSpace  # noqa: E402

FIRST_COUNTED_ROUND = 2  # 0-based: rounds 1-2 are the random initial design


def on_bounds(space: SearchSpace, configs: list) -> np.ndarray:
    """Per configuration, how many coordinates sit exactly on their range's bounds."""
    U = space.to_unit_many(configs)
    return ((np.abs(U) < 1e-9) | (np.abs(U - 1.0) < 1e-9)).sum(axis=1)


def counts(problem_name: str, optimizer: str, seed: int) -> tuple[float, list[int]]:
    problem = PROBLEMS[problem_name]
    space = SearchSpace.from_parameter_ranges(problem.ranges)
    rounds, batch = BUDGETS["par4x12"]
    opt = make_optimizer(optimizer, problem, seed, parallel=True)
    ks: list[int] = []
    best = np.inf
    for r in range(rounds):
        configs = opt.ask(batch)
        values = [problem.objective(c) for c in configs]
        opt.tell(configs, values)
        best = min(best, *values)
        if r >= FIRST_COUNTED_ROUND:
            ks += on_bounds(space, configs).tolist()
    return float(best), np.bincount(ks, minlength=space.dim + 1).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), required=True)
    parser.add_argument("--optimizer", required=True)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    total = None
    for seed in range(args.seeds):
        best, c = counts(args.problem, args.optimizer, seed)
        print(json.dumps({"seed": seed, "best": best, "picks_by_k": c}), flush=True)
        total = np.array(c) if total is None else total + c
    assert total is not None
    shares = ", ".join(f"{k}: {100 * v / total.sum():.0f} %" for k, v in enumerate(total))
    print(f"{args.optimizer} on {args.problem}, share of picks with k coordinates on a bound: "
          f"{shares}")


if __name__ == "__main__":
    main()

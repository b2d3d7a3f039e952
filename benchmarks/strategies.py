"""Side-by-side benchmark of the search strategies (issue 5).

    pip install -e '.[bench]' torch      # optuna, scikit-optimize; torch for Optuna's GPSampler
    python3 benchmarks/strategies.py --seeds 10 --workers 2 --out benchmarks/RESULTS-strategies.md

Runs every optimizer on every problem and seed, in two budgets: 50 evaluations one at a time
("seq50") and 48 evaluations as 12 rounds of 4 parallel suggestions ("par4x12"). Every
optimizer but scikit-optimize (3-5 minutes per run) also runs on seeds up to --trap-seeds (20)
for the sections judged on more seeds: issue 14's traps (mixed, levels, boundary), the overall
table, and parallel against sequential. Each finished run is appended as one JSON line to
--runs (default benchmarks/results/strategy-runs.jsonl): rerunning the command skips finished
runs (resumable), and several processes may append to the same file (each line is written
with one locked write). The markdown report is rebuilt
from all records at the end (or alone with --report-only), together with the speed and memory
measurements of our Bayesian strategy. Every process runs BLAS/torch single-threaded so that
time per suggestion compares like with like on a shared machine.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from strategy_optimizers import OPTIMIZERS, make_optimizer  # noqa: E402
from strategy_problems import PROBLEMS  # noqa: E402
from strategy_report import BUDGETS, render  # noqa: E402

from orchestrator.strategies import Observation, SearchSpace, make_strategy  # noqa: E402

# cheap problems first, so partial results cover every problem early; rf_breast_cancer is
# defined but left out of the default run (the slowest objective: ~0.2 s per evaluation)
ORDER = ("branin", "hartmann6", "mixed", "boundary", "levels", "svm_breast_cancer", "mlp_digits",
         "sgd_digits")
SLOW = ("skopt-gp",)  # 3-5 min per run: only the overall table's --seeds


def run_one(task: tuple[str, str, str, int]) -> dict:
    problem_name, optimizer, budget, seed = task
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    problem = PROBLEMS[problem_name]
    rounds, batch = BUDGETS[budget]
    opt = make_optimizer(optimizer, problem, seed, parallel=batch > 1)
    values: list[float] = []
    ask_times: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        configs = opt.ask(batch)
        ask_times.append(time.perf_counter() - t0)
        vals = [problem.objective(c) for c in configs]
        values += vals
        t0 = time.perf_counter()
        opt.tell(configs, vals)  # scikit-optimize fits its model here, not in ask
        ask_times[-1] += time.perf_counter() - t0
    return {"problem": problem_name, "optimizer": optimizer, "budget": budget, "seed": seed,
            "values": values, "ask_times": ask_times}


def _key(r: dict) -> tuple:
    return (r["problem"], r["optimizer"], r["budget"], r["seed"])


def load_runs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out, keys = [], set()
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        if _key(record) not in keys:  # two processes may have run the same task
            keys.add(_key(record))
            out.append(record)
    return out


def append_run(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps(record) + "\n")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)


def speed_and_memory() -> list[str]:
    """Median suggestion time at 100 and 1,000 observations (10 dims, 4 pending, n=1) and
    peak traced memory of one suggestion with 10,000 observations."""
    ranges = {"ContinuousParameterRanges": [
        {"Name": f"x{i}", "MinValue": "0", "MaxValue": "1"} for i in range(10)]}
    space = SearchSpace.from_parameter_ranges(ranges)
    rng = np.random.default_rng(0)
    lines = ["| observations | pending | median ms / suggestion (wall) | max ms (wall) | "
             "median CPU ms / suggestion | peak MiB (tracemalloc) |",
             "|---|---|---|---|---|---|"]
    peers = []
    for n_obs, reps in ((100, 15), (1000, 7), (10_000, 3)):
        configs = space.sample(rng, n_obs + 4)
        X = space.to_unit_many(configs)
        y = np.sum((X - 0.3) ** 2, axis=1) + 0.1 * np.sin(10 * X).sum(axis=1)
        history = [Observation(c, float(v), end_order=i)
                   for i, (c, v) in enumerate(zip(configs[:n_obs], y, strict=False))]
        times, cpu = [], []
        for r in range(reps):
            strategy = make_strategy("Bayesian", space, maximize=False, seed=r)
            t0, c0 = time.perf_counter(), time.process_time()
            strategy.suggest(history, configs[n_obs:], 1)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        tracemalloc.start()
        make_strategy("Bayesian", space, maximize=False, seed=0).suggest(
            history, configs[n_obs:], 1)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        lines.append(f"| {n_obs} | 4 | {1000 * float(np.median(times)):.1f} | "
                     f"{1000 * max(times):.1f} | {1000 * float(np.median(cpu)):.1f} | "
                     f"{peak:.1f} |")
        if n_obs <= 1000:
            peers.append((n_obs, optuna_gp_cpu(space, configs[:n_obs], y[:n_obs],
                                               3 if n_obs <= 100 else 1)))
    lines += ["", "Optuna GPSampler on the same histories (no pending trials; CPU ms of one "
              "`ask`, median of 3 at 100 observations, one at 1,000): " + ", ".join(
                  f"{n} observations {'n/a' if t is None else f'{1000 * t:.0f} ms'}"
                  for n, t in peers) + "."]
    lines += ["", "Targets: <= 50 ms at 100 observations, <= 1 s at 1,000, bounded memory at "
              "10,000 (the GP keeps at most 300 points). CPU time is this process's own "
              "(single-threaded BLAS): on a shared machine wall time also counts the waits "
              "for a core, CPU time does not."]
    return lines


def optuna_gp_cpu(space: SearchSpace, configs: list, y: np.ndarray, reps: int
                  ) -> float | None:
    """Median CPU seconds of one Optuna GPSampler suggestion after the same history, or None
    when Optuna or torch is missing."""
    try:
        import optuna
        import torch

        torch.set_num_threads(1)
    except ImportError:
        return None
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {name: FloatDistribution(0.0, 1.0) for name in space.names}
    trials = [create_trial(params={k: float(v) for k, v in c.items()}, distributions=dists,
                           value=float(v)) for c, v in zip(configs, y, strict=True)]
    cpu = []
    for r in range(reps):
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=r))
        study.add_trials(trials)
        c0 = time.process_time()
        trial = study.ask()
        for name in space.names:
            trial.suggest_float(name, 0.0, 1.0)
        cpu.append(time.process_time() - c0)
    return float(np.median(cpu))


def _versions() -> str:
    out = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for mod in ("scipy", "sklearn", "optuna", "skopt", "torch"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            out.append(f"{mod} missing")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trap-seeds", type=int, default=20,
                    help="seeds of every optimizer but skopt-gp (3-5 min per run) on every "
                         "problem, for the sections over more seeds (the traps, the overall "
                         "table, both modes); 0 skips them")
    ap.add_argument("--problems", nargs="*", default=list(ORDER), choices=list(PROBLEMS))
    ap.add_argument("--optimizers", nargs="*", default=list(OPTIMIZERS),
                    help=f"from {OPTIMIZERS}; ablations: smlocal-bayesian[option=value,...]")
    ap.add_argument("--budgets", nargs="*", default=list(BUDGETS), choices=list(BUDGETS))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--runs", type=Path,
                    default=Path(__file__).parent / "results" / "strategy-runs.jsonl")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS-strategies.md")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()

    done = {_key(r) for r in load_runs(args.runs)}
    def seeds_of(p: str, o: str) -> int:
        """Every optimizer but the slow one runs to --trap-seeds."""
        return args.seeds if o in SLOW else max(args.seeds, args.trap_seeds)

    tasks = [(p, o, b, s) for p in args.problems for o in args.optimizers
             for s in range(seeds_of(p, o))
             for b in args.budgets if (p, o, b, s) not in done]
    if not args.report_only and tasks:
        print(f"{len(tasks)} runs to do ({len(done)} already in {args.runs})", flush=True)
        with Pool(args.workers) as pool:
            for i, rec in enumerate(pool.imap_unordered(run_one, tasks), 1):
                append_run(args.runs, rec)
                best = (max if PROBLEMS[rec["problem"]].maximize else min)(rec["values"])
                print(f"[{i}/{len(tasks)}] {rec['problem']} {rec['optimizer']} {rec['budget']} "
                      f"seed {rec['seed']}: best {best:.5g}, "
                      f"{sum(rec['ask_times']):.1f} s asking", flush=True)
    mine = [r for r in load_runs(args.runs) if r["problem"] in args.problems
            and r["optimizer"] in args.optimizers]
    records = [r for r in mine if r["seed"] < args.seeds]
    more = [r for r in mine if r["seed"] < args.trap_seeds]  # the sections over more seeds
    speed = ["(skipped)"] if args.no_speed else speed_and_memory()
    cmd = "python3 benchmarks/strategies.py " + " ".join(sys.argv[1:])
    header = ["# Strategy benchmark results", "",
              f"Command: `{cmd}`  ", f"Date: {datetime.date.today().isoformat()}  ",
              f"Machine: {os.cpu_count()} cores (shared), single-threaded BLAS; {_versions()}  ",
              f"Runs: {len(records)} (problems x optimizers x budgets x seeds "
              f"{len(args.problems)} x {len(args.optimizers)} x {len(args.budgets)} x "
              f"{args.seeds}); the sections over {args.trap_seeds} seeds: {len(more)} runs"]
    notes_file = Path(__file__).parent / "strategy-notes.md"
    notes = notes_file.read_text() if notes_file.exists() else ""
    args.out.write_text(render(records, header, speed, notes, more, args.trap_seeds))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Turn the run records of the strategy benchmark into the markdown results table.

Normalised score (Bayesmark style): for problem p, budget b and evaluation count k,
  score = 100 * (R - f) / (R - f*)    (written for minimisation; signs flip for maximisation)
where f is the run's best value after k evaluations, R the mean over seeds of random search's
best after k evaluations (same problem, same budget), and f* the known optimum, or the best
value any run of any optimizer found. 0 = as good as random search on average, 100 = optimum.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from strategy_problems import PROBLEMS

BUDGETS = {"seq50": (50, 1), "par4x12": (12, 4)}  # (rounds, batch size)
CHECKPOINTS = {"seq50": (10, 25, 50), "par4x12": (12, 24, 48)}


def best_so_far(values: Sequence[float], maximize: bool) -> np.ndarray:
    v = np.array(values, dtype=float)
    v = np.where(np.isfinite(v), v, -np.inf if maximize else np.inf)
    return np.maximum.accumulate(v) if maximize else np.minimum.accumulate(v)


def _group(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    out: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        out[(r["problem"], r["budget"], r["optimizer"])].append(r)
    return out


def _optimum(problem: str, records: list[dict]) -> float:
    p = PROBLEMS[problem]
    if p.optimum is not None:
        return p.optimum
    vals = [v for r in records if r["problem"] == problem for v in r["values"]
            if v is not None and np.isfinite(v)]
    return max(vals) if p.maximize else min(vals)


def scores(records: list[dict]) -> dict[tuple[str, str, str, int], list[float]]:
    """(problem, budget, optimizer, k) -> per-seed normalised scores."""
    groups = _group(records)
    out: dict[tuple[str, str, str, int], list[float]] = {}
    for (problem, budget, opt), runs in groups.items():
        rand = groups.get((problem, budget, "smlocal-random"))
        if not rand:
            continue
        mx = PROBLEMS[problem].maximize
        sign = -1.0 if mx else 1.0
        fstar = sign * _optimum(problem, records)
        for k in CHECKPOINTS[budget]:
            R = sign * float(np.mean([best_so_far(r["values"], mx)[k - 1] for r in rand]))
            den = max(R - fstar, 1e-12)
            out[(problem, budget, opt, k)] = [
                100.0 * (R - sign * best_so_far(r["values"], mx)[k - 1]) / den for r in runs]
    return out


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def problem_table(records: list[dict], problem: str, budget: str, sc: dict) -> list[str]:
    groups = _group(records)
    mx = PROBLEMS[problem].maximize
    ks = CHECKPOINTS[budget]
    head = " | ".join(f"best@{k} median [q25, q75]" for k in ks)
    lines = [f"| optimizer | seeds | {head} | score@{ks[-1]} | ms/suggestion |",
             "|---|---|" + "---|" * len(ks) + "---|---|"]
    for opt in sorted({o for (p, b, o) in groups if p == problem and b == budget}):
        runs = groups[(problem, budget, opt)]
        cells = []
        for k in ks:
            b = [best_so_far(r["values"], mx)[k - 1] for r in runs]
            q25, q50, q75 = np.percentile(b, [25, 50, 75])
            cells.append(f"{_fmt(q50)} [{_fmt(q25)}, {_fmt(q75)}]")
        s = sc.get((problem, budget, opt, ks[-1]), [float("nan")])
        ms = 1000 * sum(sum(r["ask_times"]) for r in runs) / sum(len(r["values"]) for r in runs)
        lines.append(f"| {opt} | {len(runs)} | " + " | ".join(cells)
                     + f" | {statistics.mean(s):.1f} | {ms:.1f} |")
    return lines


def overall_table(records: list[dict], sc: dict) -> list[str]:
    problems = sorted({r["problem"] for r in records}, key=list(PROBLEMS).index)
    opts = sorted({r["optimizer"] for r in records})
    lines = ["| optimizer | " + " | ".join(f"{b} score@{k}" for b in BUDGETS
                                          for k in CHECKPOINTS[b]) + " | beats random on |",
             "|---|" + "---|" * (sum(len(v) for v in CHECKPOINTS.values()) + 1)]
    for opt in opts:
        cells, wins, total = [], 0, 0
        for b in BUDGETS:
            for k in CHECKPOINTS[b]:
                per_problem = [statistics.mean(sc[(p, b, opt, k)]) for p in problems
                               if (p, b, opt, k) in sc]
                cells.append(f"{statistics.mean(per_problem):.1f}" if per_problem else "-")
            for p in problems:
                key = (p, b, opt, CHECKPOINTS[b][-1])
                if key in sc:
                    total += 1
                    wins += statistics.mean(sc[key]) > 0
        lines.append(f"| {opt} | " + " | ".join(cells) + f" | {wins}/{total} |")
    return lines


def render(records: list[dict], header: list[str], speed: list[str],
           notes: str = "") -> str:
    sc = scores(records)
    out = header + ["", "## Overall: mean normalised score over problems "
                    "(0 = random search, 100 = best known)", ""]
    out += overall_table(records, sc)
    if notes:
        out += ["", notes.strip()]
    out += ["", "## Speed and memory of smlocal-bayesian", ""] + speed
    for problem in [p for p in PROBLEMS if any(r["problem"] == p for r in records)]:
        pr = PROBLEMS[problem]
        out += ["", f"## {problem}: {pr.note} "
                f"({'maximise' if pr.maximize else 'minimise'}"
                f"{'' if pr.optimum is None else f', optimum {pr.optimum:.6g}'})"]
        for budget in BUDGETS:
            if any(r["problem"] == problem and r["budget"] == budget for r in records):
                out += ["", f"Budget {budget}:", ""] + problem_table(records, problem, budget, sc)
    return "\n".join(out) + "\n"

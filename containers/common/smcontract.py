"""SageMaker training-container contract, the container side (spec §5).

Shared by the example containers (one copy: every image is built with the context containers/,
e.g. `docker build -f containers/gbm/Dockerfile containers`, and copies common/smcontract.py
next to its train.py).

What the platform provides and this module reads or writes:
  /opt/ml/input/config/hyperparameters.json   {"name": "value", ...}; values are strings
  /opt/ml/input/config/inputdataconfig.json   {"<channel>": {"ContentType"?: ...}, ...}
  /opt/ml/input/data/<channel>/...            the channel's files (File mode)
  /opt/ml/model/                              final model (uploaded as model.tar.gz)
  /opt/ml/output/failure                      failure reason (-> FailureReason)
  /opt/ml/output/data/                        extra artifacts (-> output.tar.gz)
  /opt/ml/checkpoints/                        exists only when CheckpointConfig is set
Stop: SIGTERM, then SIGKILL after a grace period, so training saves what it has and exits.

Exit codes: 0 done, 2 bad input (hyperparameters, data: "ClientError"), 1 unexpected error
("AlgorithmError"), 143 (=128+SIGTERM) stopped by SIGTERM after saving the model.
The root can be moved with the environment variable SMLOCAL_OPT_ML (for running on a host, with
PYTHONPATH=containers/common so that train.py finds this module).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPT_ML = Path(os.environ.get("SMLOCAL_OPT_ML", "/opt/ml"))
CONFIG_DIR = OPT_ML / "input" / "config"
DATA_DIR = OPT_ML / "input" / "data"
MODEL_DIR = OPT_ML / "model"
OUTPUT_DIR = OPT_ML / "output"
CHECKPOINT_DIR = OPT_ML / "checkpoints"

EXIT_CLIENT_ERROR = 2
EXIT_ALGORITHM_ERROR = 1
EXIT_STOPPED = 128 + signal.SIGTERM
# Keys the platform or the SageMaker Python SDK add next to the user's hyperparameters
# (e.g. `_tuning_objective_metric`, `sagemaker_program`): not ours to validate.
RESERVED_PREFIXES = ("_", "sagemaker_")
CSV_CONTENT_TYPES = ("text/csv", "application/csv", "text/x-csv", "application/x-csv")


class ClientError(Exception):
    """The job's input is wrong (a hyperparameter, a channel, the data): the user must fix it."""


def emit(line: str) -> None:
    """Print one log line now: metric regexes read the log while the job runs."""
    print(line, flush=True)


# --- hyperparameters -------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, default and valid range (inclusive unless `open_*`)."""

    name: str
    kind: type  # int, float or str
    default: Any
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        lo = "" if self.low is None else f"{'>' if self.open_low else '>='} {self.low:g}"
        hi = "" if self.high is None else f"{'<' if self.open_high else '<='} {self.high:g}"
        kind = "an integer" if self.kind is int else "a number"
        return " and ".join(p for p in (f"{kind}", lo, hi) if p)


def read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {path}: {exc}") from exc


def raw_hyperparameters() -> dict[str, str]:
    """hyperparameters.json as name -> string, with SDK-style JSON-encoded strings decoded.

    The SageMaker Python SDK sends `json.dumps(value)` for each value, so the string `adam`
    arrives as `"\\"adam\\""`; numbers arrive as `"0.1"` either way.
    """
    data = read_json(CONFIG_DIR / "hyperparameters.json", {})
    if not isinstance(data, dict):
        raise ClientError("hyperparameters.json must hold a JSON object of name -> string")
    out: dict[str, str] = {}
    for name, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) >= 2 and text[0] == text[-1] == '"':
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = None
            if isinstance(decoded, str):
                text = decoded
        out[str(name)] = text.strip()
    return out


def _convert(param: Param, text: str) -> Any:
    bad = f"hyperparameter {param.name}={text!r} is invalid: must be {param.describe_range()}"
    if param.kind is str:
        if param.choices and text not in param.choices:
            raise ClientError(bad)
        return text
    try:
        number = float(text)
    except ValueError:
        raise ClientError(bad) from None
    if not math.isfinite(number):
        raise ClientError(bad)
    if param.kind is int:
        if number != int(number):
            raise ClientError(bad)
        number = int(number)
    if param.low is not None and (number < param.low or (param.open_low and number == param.low)):
        raise ClientError(bad)
    if param.high is not None and (
        number > param.high or (param.open_high and number == param.high)
    ):
        raise ClientError(bad)
    return number


def parse_hyperparameters(raw: dict[str, str], params: Iterable[Param]) -> dict[str, Any]:
    """Typed values for `params` from `raw`; every problem is reported at once."""
    params = list(params)
    known = {alias: p for p in params for alias in (p.name, *p.aliases)}
    errors = []
    unknown = sorted(n for n in raw if n not in known and not n.startswith(RESERVED_PREFIXES))
    if unknown:
        errors.append(
            f"unknown hyperparameter(s) {', '.join(unknown)}; this image accepts: "
            + ", ".join(p.name for p in params)
        )
    values: dict[str, Any] = {}
    for p in params:
        given = [n for n in (p.name, *p.aliases) if n in raw]
        if len(given) > 1:
            errors.append(f"hyperparameters {' and '.join(given)} mean the same; give one")
            continue
        try:
            values[p.name] = _convert(p, raw[given[0]]) if given else p.default
        except ClientError as exc:
            errors.append(str(exc))
    if errors:
        raise ClientError("; ".join(errors))
    return values


# --- channels --------------------------------------------------------------------------------


def _channel_files(channel: str) -> list[Path]:
    root = DATA_DIR / channel
    config = read_json(CONFIG_DIR / "inputdataconfig.json", {})
    declared = config.get(channel) if isinstance(config, dict) else None
    if isinstance(declared, dict):
        content_type = str(declared.get("ContentType", "text/csv")).split(";")[0].strip().lower()
        if content_type not in CSV_CONTENT_TYPES:
            raise ClientError(
                f"channel {channel!r} has ContentType {declared.get('ContentType')!r}; "
                "this image reads CSV (text/csv)"
            )
        if declared.get("TrainingInputMode") == "Pipe":
            raise ClientError(f"channel {channel!r} uses Pipe mode; use File or FastFile")
    if not root.is_dir():
        raise ClientError(
            f"channel {channel!r} is missing: no directory {root}; add a channel named "
            f"{channel!r} to InputDataConfig"
        )
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise ClientError(f"channel {channel!r} is empty: no files under {root}")
    return files


def read_csv_channel(channel: str) -> tuple[Any, Any]:
    """(labels, features) from every file of a CSV channel: label first, no header, binary 0/1."""
    import numpy as np

    rows: list[list[float]] = []
    width = None
    for path in _channel_files(channel):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = [float(cell) for cell in line.split(",")]
                except ValueError:
                    raise ClientError(
                        f"{path.relative_to(DATA_DIR)} line {lineno}: not numeric CSV "
                        f"(label first, no header): {line[:80].rstrip()!r}"
                    ) from None
                if width is None:
                    width = len(row)
                if len(row) != width or width < 2:
                    raise ClientError(
                        f"{path.relative_to(DATA_DIR)} line {lineno}: {len(row)} columns, "
                        f"expected {width} (label + at least one feature)"
                    )
                rows.append(row)
    if not rows:
        raise ClientError(f"channel {channel!r} has no data rows")
    data = np.asarray(rows, dtype=float)
    if not np.isfinite(data).all():
        raise ClientError(f"channel {channel!r} contains nan or inf values")
    labels, features = data[:, 0], data[:, 1:]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ClientError(f"channel {channel!r}: labels (first column) must be 0 or 1")
    return labels.astype(int), features


# --- stopping, files, main -------------------------------------------------------------------


class StopSignal:
    """Records SIGTERM so training can save its model and exit within the grace period."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> StopSignal:
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, _signum: int, _frame: object) -> None:
        # Only set a flag: printing here could re-enter a print the main code is doing.
        self.requested = True

    def sleep(self, seconds: float) -> None:
        """Sleep, but return as soon as a stop is requested (time.sleep resumes after signals)."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a kill never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_failure(reason: str) -> None:
    try:
        write_atomically(OUTPUT_DIR / "failure", reason.encode("utf-8"))
    except OSError as exc:  # the reason still reaches the log
        print(f"cannot write {OUTPUT_DIR / 'failure'}: {exc}", file=sys.stderr, flush=True)


def run(train: Callable[[StopSignal], int]) -> None:
    """Entry point: `<image> train` (or no argument) runs `train`; exits with its code."""
    stop = StopSignal().install()
    try:
        args = sys.argv[1:]
        if args not in ([], ["train"]):
            raise ClientError(
                f"unsupported arguments {' '.join(args)!r}: this image only trains "
                "(run it as `<image> train`)"
            )
        code = train(stop)
    except ClientError as exc:
        reason = f"ClientError: {exc}"
        print(reason, file=sys.stderr, flush=True)
        write_failure(reason)
        code = EXIT_CLIENT_ERROR
    except Exception as exc:  # every other failure must still leave a reason behind
        traceback.print_exc()
        reason = f"AlgorithmError: {type(exc).__name__}: {exc}"
        write_failure(reason)
        code = EXIT_ALGORITHM_ERROR
    sys.stdout.flush()
    sys.exit(code)

"""The contract probe (containers/probe/probe.py) as a fake-engine program.

Same hyperparameters and the same printed markers (PROBE_START, PROBE_SLEEPING, PROBE_SIGTERM,
PROBE_SIGTERM_SAVED, PROBE_END exit_code=N, PROBE_REPORT <json>), so one runner conformance
suite drives the Docker engine (the real probe image) and the fake engine alike. What only a
real container can show (name resolution, /proc/mounts, TCP reachability, long lines and binary
garbage on a real log driver) is left out; those checks stay Docker-only.
"""

from __future__ import annotations

import json
import os

from orchestrator.runner.fake_engine import FakeProcess, Terminated

ML = "/opt/ml"
MIB = 1024 * 1024


def probe_program(proc: FakeProcess) -> int:
    params = _read_json(proc, f"{ML}/input/config/hyperparameters.json")
    if not isinstance(params, dict) or "error" in params:
        params = {}
    try:
        return _main(proc, params)
    except Terminated:  # the probe's SIGTERM handler
        proc.say("PROBE_SIGTERM")
        ignore = float(params.get("ignore_sigterm_seconds", "0"))
        if ignore > 0:
            proc.sleep(ignore)  # only SIGKILL ends this early
        _write_files(proc, f"{ML}/model", "sigterm.txt")
        proc.say("PROBE_SIGTERM_SAVED")
        return 143


def _main(proc: FakeProcess, params: dict) -> int:
    checkpoint_dir = params.get("checkpoint_dir", f"{ML}/checkpoints")
    delay_host, _, delay = params.get("delay_on", "").partition(":")
    if delay_host == proc.hostname:
        proc.sleep(float(delay))
    proc.say(f"PROBE_START argv={proc.argv[1:]} host={proc.hostname}")
    checkpoints_at_start = _listing(proc.path(checkpoint_dir))
    _write_files(proc, f"{ML}/model", params.get("model_files", ""))
    _write_files(proc, f"{ML}/output/data", params.get("output_files", ""))
    _write_files(proc, checkpoint_dir, params.get("checkpoint_files", ""))
    for name in filter(None, params.get("delete_checkpoint_files", "").split(",")):
        path = proc.path(checkpoint_dir) / name
        if path.exists():
            path.unlink()
    if params.get("report") == "1":
        report = _report(proc, checkpoint_dir, checkpoints_at_start)
        proc.say("PROBE_REPORT " + json.dumps(report, sort_keys=True))
    if "allocate_mb" in params:
        proc.allocate(int(params["allocate_mb"]) * MIB)
        proc.say(f"PROBE_ALLOCATED {int(params['allocate_mb']) * MIB}")
    interval = float(params.get("metric_interval", "0"))
    stream = params.get("metric_stream", "stdout")
    for step in _metric_schedule(params.get("metrics", "")):
        for name, value in step:
            for target in ("stdout", "stderr") if stream == "both" else (stream,):
                proc.say(f"{name}={value};", target)
        if interval:
            proc.sleep(interval)
    sleep = float(params.get("sleep_seconds", "0"))
    if sleep:
        proc.say("PROBE_SLEEPING")
        proc.sleep(sleep)
    for text in filter(None, params.get("final_lines", "").split(",")):
        proc.say(text)
    if "failure_message" in params:
        proc.path(f"{ML}/output/failure").write_text(params["failure_message"])
    code = int(params.get("exit_code", "0"))
    proc.say(f"PROBE_END exit_code={code}")
    return code


def _report(proc: FakeProcess, checkpoint_dir: str, checkpoints_at_start: dict) -> dict:
    config = proc.path(f"{ML}/input/config")
    data = proc.path(f"{ML}/input/data")
    channels = sorted(os.listdir(data)) if data.is_dir() else []
    return {
        "hyperparameters": _read_json(proc, f"{ML}/input/config/hyperparameters.json"),
        "inputdataconfig": _read_json(proc, f"{ML}/input/config/inputdataconfig.json"),
        "resourceconfig": _read_json(proc, f"{ML}/input/config/resourceconfig.json"),
        "config_files": sorted(os.listdir(config)) if config.is_dir() else [],
        "channels": {c: _listing(data / c) for c in channels},
        "channel_writable": {c: proc.writable(f"{ML}/input/data/{c}") for c in channels},
        "checkpoints": _listing(proc.path(checkpoint_dir)),
        "checkpoints_at_start": checkpoints_at_start,
        "environ": proc.environ,
        "hostname": proc.hostname,
        "argv": proc.argv,
        "model_writable": proc.writable(f"{ML}/model"),
        "mount_points": proc.mount_points(),
    }


def _read_json(proc: FakeProcess, path: str):
    try:
        return json.loads(proc.path(path).read_text())
    except (OSError, ValueError) as exc:
        return {"error": str(exc)}


def _write_files(proc: FakeProcess, base: str, names: str) -> None:
    for name in filter(None, names.split(",")):
        path = proc.path(base) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name} from {proc.hostname}\n")


def _listing(base) -> dict:
    found = {}
    for root, _dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, base)] = os.path.getsize(path)
    return found


def _metric_schedule(spec: str) -> list:
    series = []
    for part in filter(None, spec.split(";")):
        name, _, values = part.partition("=")
        series.append((name, values.split(",")))
    steps = max((len(v) for _n, v in series), default=0)
    return [[(n, v[i]) for n, v in series if i < len(v)] for i in range(steps)]

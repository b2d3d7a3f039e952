"""Contract probe: a SageMaker training container whose behaviour the hyperparameters choose.

Hyperparameters (all optional, strings as SageMaker passes them):
  report=1                  print `PROBE_REPORT <json>`: config files, channel listings,
                            environment, hostname, algo-N resolution, /opt/ml mounts, uid, ...
  metrics=loss=0.5,0.4;acc=0.1,0.2   metric lines `name=value` (one per value, all names per
                            step), every `metric_interval` seconds, on `metric_stream`
                            (stdout|stderr|both)
  model_files / output_files / checkpoint_files=a.txt,sub/b.txt   files to write
  delete_checkpoint_files=a.txt     checkpoint files to delete
  sleep_seconds=N           sleep (after writing files) before exiting
  ignore_sigterm_seconds=N  on SIGTERM keep running N more seconds (else: save
                            `model/sigterm.txt` and exit 143 at once)
  allocate_mb=N             allocate and touch N MiB
  long_line_kb=N            print one line of N KiB
  garbage_bytes=N           write N bytes of binary garbage to stdout
  failure_message=TEXT      write /opt/ml/output/failure
  exit_code=N               exit code (default 0)
  checkpoint_dir=PATH       default /opt/ml/checkpoints
  resolve_timeout=S         how long to retry resolving algo-N (default 20)
  connect_to=HOST:PORT      report whether a TCP connection to HOST:PORT succeeds
  final_lines=a,b           lines printed just before exiting (after the sleep)
  delay_on=algo-2:1.5       on that host only, sleep that long before anything else
"""

import json
import os
import signal
import socket
import sys
import time
import urllib.request

ML = "/opt/ml"


def hp() -> dict:
    try:
        with open(f"{ML}/input/config/hyperparameters.json") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def say(text: str, stream: str = "stdout") -> None:
    targets = {"stdout": [sys.stdout], "stderr": [sys.stderr], "both": [sys.stdout, sys.stderr]}
    for target in targets[stream]:
        target.write(text + "\n")
        target.flush()


def write_files(base: str, names: str) -> None:
    host = socket.gethostname()
    for name in filter(None, names.split(",")):
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(f"{name} from {host}\n")


def listing(base: str) -> dict:
    found = {}
    for root, _dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, base)] = os.path.getsize(path)
    return found


def read_json(path: str):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        return {"error": str(exc)}


def writable(path: str) -> bool:
    try:
        probe = os.path.join(path, ".probe-write-test")
        with open(probe, "w") as handle:
            handle.write("x")
        os.unlink(probe)
        return True
    except OSError:
        return False


def resolve_hosts(hosts: list, timeout: float) -> dict:
    result = {}
    for host in hosts:
        deadline = time.time() + timeout
        while True:
            try:
                result[host] = socket.gethostbyname(host)
                break
            except OSError as exc:
                if time.time() > deadline:
                    result[host] = f"error: {exc}"
                    break
                time.sleep(0.1)
    return result


def s3_reachable() -> object:
    url = os.environ.get("S3_ENDPOINT_URL")
    if not url:
        return None
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code  # an HTTP answer still proves the endpoint is reachable
    except OSError as exc:
        return f"error: {exc}"


def try_connect(target: str) -> str:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return "ok"
    except OSError as exc:
        return f"error: {exc}"


def report(params: dict, checkpoint_dir: str, checkpoints_at_start: dict) -> dict:
    config = f"{ML}/input/config"
    resource = read_json(f"{config}/resourceconfig.json")
    data = f"{ML}/input/data"
    channels = sorted(os.listdir(data)) if os.path.isdir(data) else []
    with open("/proc/mounts") as handle:
        mounts = [line.strip() for line in handle if " /opt/ml" in line]
    return {
        "hyperparameters": read_json(f"{config}/hyperparameters.json"),
        "inputdataconfig": read_json(f"{config}/inputdataconfig.json"),
        "resourceconfig": resource,
        "config_files": sorted(os.listdir(config)) if os.path.isdir(config) else [],
        "channels": {c: listing(os.path.join(data, c)) for c in channels},
        "channel_writable": {c: writable(os.path.join(data, c)) for c in channels},
        "checkpoints": listing(checkpoint_dir),
        "checkpoints_at_start": checkpoints_at_start,
        "connect": try_connect(params["connect_to"]) if params.get("connect_to") else None,
        "environ": dict(os.environ),
        "hostname": socket.gethostname(),
        "resolved": resolve_hosts(
            resource.get("hosts", []) if isinstance(resource, dict) else [],
            float(params.get("resolve_timeout", "20")),
        ),
        "mounts": mounts,
        "uid": os.getuid(),
        "argv": sys.argv,
        "code_marker": os.path.exists(f"{ML}/code/marker.txt"),
        "model_writable": writable(f"{ML}/model"),
        "s3_status": s3_reachable(),
    }


def metric_schedule(spec: str) -> list:
    """`loss=0.5,0.4;acc=0.1,0.2` → [[("loss","0.5"),("acc","0.1")], [("loss","0.4"), ...]]"""
    series = []
    for part in filter(None, spec.split(";")):
        name, _, values = part.partition("=")
        series.append((name, values.split(",")))
    steps = max((len(v) for _n, v in series), default=0)
    return [[(n, v[i]) for n, v in series if i < len(v)] for i in range(steps)]


def main() -> int:
    params = hp()
    checkpoint_dir = params.get("checkpoint_dir", f"{ML}/checkpoints")
    ignore_term = float(params.get("ignore_sigterm_seconds", "0"))

    def on_sigterm(_signum, _frame):
        say("PROBE_SIGTERM")
        if ignore_term > 0:
            time.sleep(ignore_term)
        write_files(f"{ML}/model", "sigterm.txt")
        say("PROBE_SIGTERM_SAVED")
        os._exit(143)

    signal.signal(signal.SIGTERM, on_sigterm)
    delay_host, _, delay = params.get("delay_on", "").partition(":")
    if delay_host == socket.gethostname():
        time.sleep(float(delay))
    say(f"PROBE_START argv={sys.argv[1:]} host={socket.gethostname()}")
    checkpoints_at_start = listing(checkpoint_dir)

    write_files(f"{ML}/model", params.get("model_files", ""))
    write_files(f"{ML}/output/data", params.get("output_files", ""))
    write_files(checkpoint_dir, params.get("checkpoint_files", ""))
    for name in filter(None, params.get("delete_checkpoint_files", "").split(",")):
        path = os.path.join(checkpoint_dir, name)
        if os.path.exists(path):
            os.unlink(path)

    if params.get("report") == "1":
        say(
            "PROBE_REPORT "
            + json.dumps(report(params, checkpoint_dir, checkpoints_at_start), sort_keys=True)
        )

    if "allocate_mb" in params:
        hog = b"\x01" * (int(params["allocate_mb"]) * 1024 * 1024)
        say(f"PROBE_ALLOCATED {len(hog)}")

    if "long_line_kb" in params:
        say("L" * int(params["long_line_kb"]) * 1024 + " PROBE_LONG_END")
    if "garbage_bytes" in params:
        sys.stdout.buffer.write(os.urandom(int(params["garbage_bytes"])) + b"\n")
        sys.stdout.flush()
        say("PROBE_AFTER_GARBAGE")

    interval = float(params.get("metric_interval", "0"))
    stream = params.get("metric_stream", "stdout")
    for step in metric_schedule(params.get("metrics", "")):
        for name, value in step:
            say(f"{name}={value};", stream)
        if interval:
            time.sleep(interval)

    sleep = float(params.get("sleep_seconds", "0"))
    if sleep:
        say("PROBE_SLEEPING")
        time.sleep(sleep)

    for text in filter(None, params.get("final_lines", "").split(",")):
        say(text)
    if "failure_message" in params:
        with open(f"{ML}/output/failure", "w") as handle:
            handle.write(params["failure_message"])
    code = int(params.get("exit_code", "0"))
    say(f"PROBE_END exit_code={code}")
    return code


if __name__ == "__main__":
    sys.exit(main())

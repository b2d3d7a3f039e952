"""Broken on purpose: ignores SIGTERM, so SageMaker has to SIGKILL it (and it saves nothing).
Runs `seconds` (hyperparameter, default 12) printing `loss=`, then writes its model."""
import json
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open("/opt/ml/input/config/hyperparameters.json") as f:
    seconds = float(json.load(f).get("seconds", "12"))
start = time.time()
while time.time() - start < seconds:
    print(f"loss={1 / (1 + time.time() - start):.4f}", flush=True)
    time.sleep(0.5)
with open("/opt/ml/model/model.txt", "w") as f:
    f.write("model\n")

"""Logistic regression by gradient descent: a small, contract-abiding SageMaker training job.

Channels: `train` (required) and `validation` (optional), CSV, label first, no header.
Hyperparameters (strings, as SageMaker writes them): epochs (int, 20), learning_rate (float,
0.1), epoch_seconds (float, 0: extra time per epoch, to watch a run or test a stop). Log: `epoch=N train:loss=X validation:loss=Y` per epoch. Model: /opt/ml/model/model.json.
SIGTERM (stop, MaxRuntime): saves the model so far and exits 0. Failures: the reason goes to
/opt/ml/output/failure and the exit code is 1.
"""

import json
import signal
import time
from pathlib import Path

import numpy as np

ML = Path("/opt/ml")
stop_requested = False


def on_sigterm(*_):
    global stop_requested
    stop_requested = True


def load(channel):
    folder = ML / "input" / "data" / channel
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        return None
    rows = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    return rows[:, 1:], rows[:, 0]


def loss(w, x, y):
    z = x @ w[:-1] + w[-1]
    return float(np.mean(np.logaddexp(0, z) - y * z))


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    hp = json.loads((ML / "input" / "config" / "hyperparameters.json").read_text())
    epochs, lr = int(hp.get("epochs", "20")), float(hp.get("learning_rate", "0.1"))
    pause = float(hp.get("epoch_seconds", "0"))
    train = load("train")
    if train is None:
        raise ValueError("channel 'train' has no .csv file")
    validation = load("validation")
    x, y = train
    mean, std = x.mean(0), x.std(0) + 1e-9
    x = (x - mean) / std
    w = np.zeros(x.shape[1] + 1)
    for epoch in range(1, epochs + 1):
        p = 1 / (1 + np.exp(-(x @ w[:-1] + w[-1])))
        w -= lr * np.append(x.T @ (p - y), np.sum(p - y)) / len(y)
        line = f"epoch={epoch} train:loss={loss(w, x, y):.6f}"
        if validation is not None:
            line += f" validation:loss={loss(w, (validation[0] - mean) / std, validation[1]):.6f}"
        print(line, flush=True)
        time.sleep(pause)
        if stop_requested:
            print("SIGTERM: saving the model so far", flush=True)
            break
    (ML / "model" / "model.json").write_text(json.dumps(
        {"weights": w.tolist(), "mean": mean.tolist(), "std": std.tolist()}))


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        (ML / "output" / "failure").write_text(f"{type(exc).__name__}: {exc}")
        raise  # the traceback goes to the log and the exit code is 1

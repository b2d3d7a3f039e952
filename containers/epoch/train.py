"""A small numpy MLP (or logistic regression) trained by mini-batch gradient descent, per epoch.

Notation: X (n x d) standardised features, y in {0,1}; h = relu(X W1 + b1) (d x H), logit
z = h w2 + b2 (with H = 0: z = X w2 + b2, logistic regression); p = sigmoid(z);
loss = mean(log(1 + e^z) - y z) + weight_decay/2 * (|W1|^2 + |w2|^2).
Optimisers, with g the gradient, lr the learning rate, m the momentum:
  sgd      v <- m v - lr g;                     θ <- θ + v      (heavy ball)
  rmsprop  s <- 0.9 s + 0.1 g²; v <- m v + lr g/(√s + 1e-8); θ <- θ - v   (as PyTorch RMSprop)
  adam     β1 = m, β2 = 0.999, ε = 1e-8, bias-corrected (Kingma & Ba 2015)

Channels `train` and `validation`: CSV, label (0/1) first, no header.
Hyperparameters (all optional):
  epochs               int 1..10000      10     the Hyperband resource
  learning_rate        (0, 10]           0.01   tune on a log scale
  batch_size           int 1..100000     32
  momentum             [0, 1)            0.9
  optimizer            sgd|adam|rmsprop  sgd
  hidden_units         int 0..4096       16     0 = logistic regression
  weight_decay         >= 0              0.0
  epoch_sleep_seconds  0..3600           0      extra wall time per epoch (tests, demos)
  seed                 int >= 0          0
One log line per epoch (one objective observation per epoch, for early stopping):
  epoch=3 validation:loss=0.345600 validation:accuracy=0.912281 train:loss=0.301234
Model: /opt/ml/model/model.npz + model.json. Checkpoints: /opt/ml/checkpoints/checkpoint.npz
after every epoch when that directory exists; a compatible checkpoint there is resumed.
"""

from __future__ import annotations

import io
import json

import numpy as np
import smcontract as sm
from smcontract import Param

PARAMS = (
    Param("epochs", int, 10, low=1, high=10_000),
    Param("learning_rate", float, 0.01, low=0.0, high=10.0, open_low=True),
    Param("batch_size", int, 32, low=1, high=100_000),
    Param("momentum", float, 0.9, low=0.0, high=1.0, open_high=True),
    Param("optimizer", str, "sgd", choices=("sgd", "adam", "rmsprop")),
    Param("hidden_units", int, 16, low=0, high=4096),
    Param("weight_decay", float, 0.0, low=0.0),
    Param("epoch_sleep_seconds", float, 0.0, low=0.0, high=3600.0),
    Param("seed", int, 0, low=0, high=2**32 - 1),
)
CHECKPOINT = "checkpoint.npz"


class Net:
    """Parameters [W1, b1, w2, b2] (or [w2, b2] when hidden_units = 0) and their gradients."""

    def __init__(self, params: list[np.ndarray]) -> None:
        self.params = params

    @classmethod
    def init(cls, d: int, hidden: int, rng: np.random.Generator) -> Net:
        if hidden == 0:
            return cls([np.zeros(d), np.zeros(1)])
        w1 = rng.normal(0.0, np.sqrt(2.0 / d), (d, hidden))  # He initialisation for ReLU
        w2 = rng.normal(0.0, np.sqrt(1.0 / hidden), hidden)
        return cls([w1, np.zeros(hidden), w2, np.zeros(1)])

    def logits(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if len(self.params) == 2:
            return x @ self.params[0] + self.params[1], None
        w1, b1, w2, b2 = self.params
        h = np.maximum(x @ w1 + b1, 0.0)
        return h @ w2 + b2, h

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        z, _ = self.logits(x)
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    def gradients(self, x: np.ndarray, y: np.ndarray, decay: float) -> list[np.ndarray]:
        z, h = self.logits(x)
        dz = (1.0 / (1.0 + np.exp(-z)) - y) / len(y)
        if h is None:
            w2 = self.params[0]
            return [x.T @ dz + decay * w2, np.array([dz.sum()])]
        w1, _, w2, _ = self.params
        dh = np.outer(dz, w2) * (h > 0)
        return [x.T @ dh + decay * w1, dh.sum(0), h.T @ dz + decay * w2, np.array([dz.sum()])]


class Optimizer:
    def __init__(self, kind: str, lr: float, momentum: float, shapes: list[tuple]) -> None:
        self.kind, self.lr, self.m = kind, lr, momentum
        self.state = {f"{k}{i}": np.zeros(s) for i, s in enumerate(shapes) for k in "vs"}
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            v, s = self.state[f"v{i}"], self.state[f"s{i}"]
            if self.kind == "sgd":
                v *= self.m
                v -= self.lr * g
                p += v
            elif self.kind == "rmsprop":
                s[:] = 0.9 * s + 0.1 * g * g
                v[:] = self.m * v + self.lr * g / (np.sqrt(s) + 1e-8)
                p -= v
            else:  # adam
                v[:] = self.m * v + (1 - self.m) * g
                s[:] = 0.999 * s + 0.001 * g * g
                v_hat = v / (1 - self.m**self.t)
                s_hat = s / (1 - 0.999**self.t)
                p -= self.lr * v_hat / (np.sqrt(s_hat) + 1e-8)


def signature(hp: dict, d: int) -> str:
    """What a checkpoint must match to be resumed (shapes and optimiser state layout)."""
    return json.dumps({"d": d, "hidden_units": hp["hidden_units"], "optimizer": hp["optimizer"]})


def save_npz(path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    sm.write_atomically(path, buf.getvalue())


def save_checkpoint(net: Net, opt: Optimizer, epoch: int, sig: str, scale) -> None:
    arrays = {f"p{i}": p for i, p in enumerate(net.params)} | opt.state
    arrays |= {"epoch": np.array(epoch), "t": np.array(opt.t), "signature": np.array(sig)}
    arrays |= {"mean": scale[0], "std": scale[1]}
    save_npz(sm.CHECKPOINT_DIR / CHECKPOINT, arrays)


def load_checkpoint(net: Net, opt: Optimizer, sig: str) -> int:
    """Restore from /opt/ml/checkpoints if present and compatible; return the epochs done."""
    path = sm.CHECKPOINT_DIR / CHECKPOINT
    if not path.is_file():
        return 0
    try:
        with np.load(path) as ck:
            if str(ck["signature"]) != sig:
                sm.emit(f"checkpoint {path} is for another model ({ck['signature']}); ignoring")
                return 0
            for i in range(len(net.params)):
                net.params[i] = ck[f"p{i}"].astype(float)
            for key in opt.state:
                opt.state[key] = ck[key].astype(float)
            opt.t = int(ck["t"])
            return int(ck["epoch"])
    except (OSError, KeyError, ValueError) as exc:
        sm.emit(f"checkpoint {path} is unreadable ({exc}); starting from scratch")
        return 0


def save_model(net: Net, hp: dict, scale, epochs_done: int, values: dict) -> None:
    save_npz(
        sm.MODEL_DIR / "model.npz",
        {f"p{i}": p for i, p in enumerate(net.params)} | {"mean": scale[0], "std": scale[1]},
    )
    meta = {
        "format": "numpy MLP: z = relu(((x-mean)/std) @ p0 + p1) @ p2 + p3; "
        "logistic regression when only p0, p1; P(y=1) = sigmoid(z)",
        "epochs_done": epochs_done,
        "hyperparameters": hp,
        "metrics": values,
    }
    sm.write_atomically(sm.MODEL_DIR / "model.json", json.dumps(meta, indent=2).encode())


def run_epoch(net, opt, x, y, hp, epoch, stop) -> bool:
    """One pass over shuffled mini-batches; False if stopped part-way."""
    order = np.random.default_rng([hp["seed"], epoch]).permutation(len(y))
    for start in range(0, len(y), hp["batch_size"]):
        if stop.requested:
            return False
        idx = order[start : start + hp["batch_size"]]
        opt.step(net.params, net.gradients(x[idx], y[idx], hp["weight_decay"]))
    return True


def evaluate(net: Net, x_val, y_val, x_train, y_train) -> dict[str, float]:
    z, _ = net.logits(x_val)
    return {
        "validation:loss": net.loss(x_val, y_val),
        "validation:accuracy": float(np.mean((z > 0) == (y_val == 1))),
        "train:loss": net.loss(x_train, y_train),
    }


def train(stop: sm.StopSignal) -> int:
    hp = sm.parse_hyperparameters(sm.raw_hyperparameters(), PARAMS)
    y_train, x_train = sm.read_csv_channel("train")
    y_val, x_val = sm.read_csv_channel("validation")
    if x_train.shape[1] != x_val.shape[1]:
        raise sm.ClientError(
            f"train has {x_train.shape[1]} features but validation has {x_val.shape[1]}"
        )
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0
    x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    d = x_train.shape[1]
    net = Net.init(d, hp["hidden_units"], np.random.default_rng(hp["seed"]))
    opt = Optimizer(
        hp["optimizer"], hp["learning_rate"], hp["momentum"], [p.shape for p in net.params]
    )
    sig = signature(hp, d)
    done = load_checkpoint(net, opt, sig) if sm.CHECKPOINT_DIR.is_dir() else 0
    sm.emit(
        f"train: {len(y_train)} rows, validation: {len(y_val)} rows, {d} features; "
        f"hyperparameters: {json.dumps(hp, sort_keys=True)}"
        + (f"; resuming after epoch {done} from checkpoint" if done else "")
    )
    values: dict[str, float] = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(done + 1, hp["epochs"] + 1):
            if not run_epoch(net, opt, x_train, y_train, hp, epoch, stop):
                break
            values = evaluate(net, x_val, y_val, x_train, y_train)
            if not all(np.isfinite(v) for v in values.values()):
                raise sm.ClientError(
                    f"training diverged at epoch {epoch} (loss is not finite); lower learning_rate"
                )
            done = epoch
            sm.emit(f"epoch={epoch} " + " ".join(f"{k}={v:.6f}" for k, v in values.items()))
            if sm.CHECKPOINT_DIR.is_dir():
                save_checkpoint(net, opt, epoch, sig, (mean, std))
            stop.sleep(hp["epoch_sleep_seconds"])
            if stop.requested:
                break
    save_model(net, hp, (mean, std), done, values)
    if stop.requested:
        sm.emit(f"stopped by SIGTERM after epoch {done}; model saved")
        return sm.EXIT_STOPPED
    sm.emit(f"training complete: {done} epochs; model saved")
    return 0


if __name__ == "__main__":
    sm.run(train)

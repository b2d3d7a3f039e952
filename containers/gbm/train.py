"""Gradient-boosted trees (scikit-learn HistGradientBoostingClassifier) as a SageMaker training job.

Channels `train` and `validation`: CSV, label (0/1) in the first column, no header.
Hyperparameters (all optional; strings as SageMaker sends them):
  learning_rate      (0, 1]      0.1    shrinkage; tune on a log scale
  max_depth          int >= 0    6      tree depth; 0 = unlimited
  max_iter           int 1..10000 100   boosting rounds (alias: num_round)
  l2_regularization  >= 0        0.0    L2 penalty on leaf values
  min_samples_leaf   int >= 1    20
  max_leaf_nodes     int >= 2    31
  eval_every         int >= 1    10     print validation metrics every N rounds
  seed               int >= 0    0
Log lines (for MetricDefinitions), every `eval_every` rounds and once at the end:
  [iter 10] validation:logloss=0.123456 validation:auc=0.987654 validation:accuracy=0.956140 train:logloss=0.100000
  [final] validation:logloss=0.093456 validation:auc=0.991234 validation:accuracy=0.964912 train:logloss=0.010000
Model: /opt/ml/model/model.pkl (the fitted estimator, pickled); metrics: output/data/metrics.json.
"""

from __future__ import annotations

import json
import pickle

import smcontract as sm
from smcontract import Param

PARAMS = (
    Param("learning_rate", float, 0.1, low=0.0, high=1.0, open_low=True),
    Param("max_depth", int, 6, low=0),
    Param("max_iter", int, 100, low=1, high=10_000, aliases=("num_round",)),
    Param("l2_regularization", float, 0.0, low=0.0),
    Param("min_samples_leaf", int, 20, low=1),
    Param("max_leaf_nodes", int, 31, low=2),
    Param("eval_every", int, 10, low=1),
    Param("seed", int, 0, low=0, high=2**32 - 1),
)


def metrics(model, x_val, y_val, x_train, y_train) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    p_val = model.predict_proba(x_val)[:, 1]
    p_train = model.predict_proba(x_train)[:, 1]
    return {
        "validation:logloss": float(log_loss(y_val, p_val, labels=[0, 1])),
        "validation:auc": float(roc_auc_score(y_val, p_val)),
        "validation:accuracy": float(accuracy_score(y_val, p_val >= 0.5)),
        "train:logloss": float(log_loss(y_train, p_train, labels=[0, 1])),
    }


def format_metrics(values: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.6f}" for name, value in values.items())


def save(model, hp: dict, values: dict[str, float], rounds: int) -> None:
    sm.write_atomically(sm.MODEL_DIR / "model.pkl", pickle.dumps(model))
    summary = {"rounds": rounds, "hyperparameters": hp, "metrics": values}
    sm.write_atomically(
        sm.OUTPUT_DIR / "data" / "metrics.json", json.dumps(summary, indent=2).encode()
    )


def train(stop: sm.StopSignal) -> int:
    hp = sm.parse_hyperparameters(sm.raw_hyperparameters(), PARAMS)
    y_train, x_train = sm.read_csv_channel("train")
    y_val, x_val = sm.read_csv_channel("validation")
    if x_train.shape[1] != x_val.shape[1]:
        raise sm.ClientError(
            f"train has {x_train.shape[1]} features but validation has {x_val.shape[1]}"
        )
    if len(set(y_train.tolist())) < 2 or len(set(y_val.tolist())) < 2:
        raise sm.ClientError("train and validation must each contain both labels 0 and 1")
    sm.emit(
        f"train: {x_train.shape[0]} rows, validation: {x_val.shape[0]} rows, "
        f"{x_train.shape[1]} features; hyperparameters: {json.dumps(hp, sort_keys=True)}"
    )

    from sklearn.ensemble import HistGradientBoostingClassifier

    # warm_start lets us grow the ensemble in steps of `eval_every` rounds, report metrics in
    # between, and stop between steps on SIGTERM with a usable model.
    model = HistGradientBoostingClassifier(
        learning_rate=hp["learning_rate"],
        max_depth=hp["max_depth"] or None,
        l2_regularization=hp["l2_regularization"],
        min_samples_leaf=hp["min_samples_leaf"],
        max_leaf_nodes=hp["max_leaf_nodes"],
        early_stopping=False,
        warm_start=True,
        random_state=hp["seed"],
    )
    rounds, values = 0, {}
    while rounds < hp["max_iter"] and not stop.requested:
        rounds = min(rounds + hp["eval_every"], hp["max_iter"])
        model.set_params(max_iter=rounds)
        model.fit(x_train, y_train)
        values = metrics(model, x_val, y_val, x_train, y_train)
        sm.emit(f"[iter {rounds}] {format_metrics(values)}")
    if rounds:
        save(model, hp, values, rounds)
    if stop.requested:
        sm.emit(f"stopped by SIGTERM after {rounds} rounds; model {'saved' if rounds else 'none'}")
        return sm.EXIT_STOPPED
    sm.emit(f"[final] {format_metrics(values)}")
    return 0


if __name__ == "__main__":
    sm.run(train)

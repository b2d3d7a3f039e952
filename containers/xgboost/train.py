"""Stand-in for the SageMaker built-in XGBoost algorithm (`xgboost` / `sagemaker-xgboost` images).

Written from AWS's documentation of the algorithm's contract (no code of AWS's container):
  hyperparameters  https://docs.aws.amazon.com/sagemaker/latest/dg/xgboost_hyperparameters.html
  input/output     https://docs.aws.amazon.com/sagemaker/latest/dg/xgboost.html
  metrics          https://docs.aws.amazon.com/sagemaker/latest/dg/xgboost-tuning.html
  metric regexes   https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-define-metrics-variables.html
                   (and the MetricDefinitions that DescribeTrainingJob returns for built-in
                   XGBoost jobs, e.g. for validation:auc
                   .*\\[[0-9]+\\].*#011validation-auc:([-+]?[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*
                   and the same shape for every train:/validation: metric)

Channels (File mode): `train` (required) and `validation` (optional). Every file of a channel,
recursively (hidden files skipped), is read and concatenated. ContentType from
inputdataconfig.json (parameters such as `;label_size=1` are ignored):
  text/csv, csv          label in the first column, no header; with csv_weights=1 the second
                         column is the instance weight; empty cells are missing values
  text/libsvm, libsvm    `<label>[:<weight>] [qid:<id>] <index>:<value> ...`, zero-based indices
  not given              the docs name libsvm as the default; we look at the first data line
                         (a `:` in its second token means libsvm, otherwise CSV)
Log: one line per boosting round, as CloudWatch shows the built-in's output (tab = `#011`):
  [0]#011train-auc:0.91429#011validation-auc:0.80998
`train` first, so both `\\[[0-9]+\\]#011train-...` and `\\[[0-9]+\\].*#011validation-...` match.
Model: /opt/ml/model/xgboost-model (XGBoost's own format: `xgboost.Booster().load_model(path)`);
with early stopping it holds the best iteration's trees ("hosting uses the best model").
Failures: /opt/ml/output/failure ("ClientError: ..." for bad hyperparameters or data, exit 2).
SIGTERM: stop after the current round, save the model, exit 143.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import smcontract as sm
from smcontract import Param

INF = math.inf
BOOL_01 = {"low": 0, "high": 1}
TRUE_FALSE = ("true", "false")

# The documented hyperparameters (defaults as documented; only the ones a job sets are passed to
# XGBoost, so XGBoost's own defaults apply to the rest). Ranges as documented, except that the
# sampling ratios exclude 0, which XGBoost itself rejects.
PARAMS = (
    Param("num_round", int, None, low=1),  # required, checked below
    Param("num_class", int, None, low=1),  # required for multi:softmax / multi:softprob
    Param("alpha", float, 0.0, low=0),
    Param("base_score", float, 0.5),
    Param("booster", str, "gbtree", choices=("gbtree", "gblinear", "dart")),
    Param("colsample_bylevel", float, 1.0, low=0, high=1, open_low=True),
    Param("colsample_bynode", float, 1.0, low=0, high=1, open_low=True),
    Param("colsample_bytree", float, 1.0, low=0, high=1, open_low=True),
    Param("csv_weights", int, 0, **BOOL_01),
    Param("deterministic_histogram", str, "true", choices=TRUE_FALSE),
    Param("early_stopping_rounds", int, None, low=1),
    Param("eta", float, 0.3, low=0, high=1),
    Param("eval_metric", str, None),
    Param("gamma", float, 0.0, low=0),
    Param("grow_policy", str, "depthwise", choices=("depthwise", "lossguide")),
    Param("interaction_constraints", str, None),
    Param("lambda", float, 1.0, low=0),
    Param("lambda_bias", float, 0.0, low=0, high=1),
    Param("max_bin", int, 256, low=2),
    Param("max_delta_step", float, 0.0, low=0),
    Param("max_depth", int, 6, low=0),
    Param("max_leaves", int, 0, low=0),
    Param("min_child_weight", float, 1.0, low=0),
    Param("monotone_constraints", str, None),
    Param("normalize_type", str, "tree", choices=("tree", "forest")),
    Param("nthread", int, None, low=1),
    Param("objective", str, "reg:squarederror"),
    Param("one_drop", int, 0, **BOOL_01),
    Param("process_type", str, "default", choices=("default", "update")),
    Param("rate_drop", float, 0.0, low=0, high=1),
    Param("refresh_leaf", int, 1, **BOOL_01),
    Param("sample_type", str, "uniform", choices=("uniform", "weighted")),
    Param("save_model_on_termination", str, "false", choices=TRUE_FALSE),
    Param("scale_pos_weight", float, 1.0, low=0),
    Param("seed", int, 0),
    Param("single_precision_histogram", str, "false", choices=TRUE_FALSE),
    Param("sketch_eps", float, 0.03, low=0, high=1, open_low=True, open_high=True),
    Param("skip_drop", float, 0.0, low=0, high=1),
    Param("subsample", float, 1.0, low=0, high=1, open_low=True),
    Param("tree_method", str, "auto", choices=("auto", "exact", "approx", "hist", "gpu_hist")),
    Param("tweedie_variance_power", float, 1.5, low=1, high=2, open_low=True, open_high=True),
    Param("updater", str, None),
    Param("use_dask_gpu_training", str, "false", choices=TRUE_FALSE),
    Param("verbosity", int, 1, low=0, high=3),
)

OBJECTIVES = (
    "reg:squarederror", "reg:squaredlogerror", "reg:logistic", "reg:pseudohubererror",
    "reg:absoluteerror", "reg:quantileerror", "reg:linear", "reg:gamma", "reg:tweedie",
    "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson",
    "survival:cox", "survival:aft", "multi:softmax", "multi:softprob",
    "rank:ndcg", "rank:map", "rank:pairwise",
)  # fmt: skip
# XGBoost's evaluation metrics (a name may carry `@<param>` or a trailing `-`, as in XGBoost).
NATIVE_METRICS = (
    "rmse", "rmsle", "mae", "mape", "mphe", "logloss", "error", "merror", "mlogloss", "auc",
    "aucpr", "pre", "ndcg", "map", "poisson-nloglik", "gamma-nloglik", "cox-nloglik",
    "gamma-deviance", "tweedie-nloglik", "aft-nloglik", "interval-regression-accuracy",
    "quantile",
)  # fmt: skip
# Metrics the built-in computes itself (the docs list validation:accuracy, :f1 and :mse; the
# built-in's MetricDefinitions also name validation:r2).
EXTRA_METRICS = ("accuracy", "f1", "mse", "r2")
MAXIMIZE = ("auc", "aucpr", "pre", "ndcg", "map", "accuracy", "f1", "r2",
            "interval-regression-accuracy")  # fmt: skip
# Hyperparameters older XGBoost releases used and XGBoost 3 no longer reads: accepted,
# validated, not passed on.
NOT_PASSED = (
    "deterministic_histogram", "single_precision_histogram", "sketch_eps", "lambda_bias",
    "save_model_on_termination", "use_dask_gpu_training", "csv_weights", "num_round",
    "early_stopping_rounds", "eval_metric", "num_class",
)  # fmt: skip
DART_ONLY = ("rate_drop", "one_drop", "skip_drop", "sample_type", "normalize_type")

CSV_TYPES = ("text/csv", "csv", "application/csv", "text/x-csv")
LIBSVM_TYPES = ("text/libsvm", "libsvm", "text/x-libsvm", "application/libsvm")


# --- hyperparameters -------------------------------------------------------------------------


def metric_base(name: str) -> str:
    return name.split("@", 1)[0].rstrip("-")


def default_metrics(objective: str) -> list[str]:
    """The documented defaults: rmse for regression, error for classification, map for ranking
    (merror for multiclass, whose error is merror). Objectives with a likelihood of their own
    (poisson, gamma, tweedie, survival) keep XGBoost's default for them."""
    if objective.startswith("binary:"):
        return ["error"]
    if objective.startswith("multi:"):
        return ["merror"]
    if objective.startswith("rank:"):
        return ["map"]
    if objective.startswith("reg:") and objective not in ("reg:gamma", "reg:tweedie"):
        return ["rmse"]
    return []


@dataclass
class Config:
    hp: dict[str, Any]
    given: set[str]
    metrics: list[str]  # eval metrics in order; the last one (or the tuning objective) stops
    stop_metric: str | None
    notes: list[str]


def parse_config(raw: dict[str, str]) -> Config:
    hp = sm.parse_hyperparameters(raw, PARAMS)
    given = {name for name in raw if not name.startswith(sm.RESERVED_PREFIXES)}
    errors, notes = [], []
    if hp["num_round"] is None:
        errors.append("missing required hyperparameter num_round (an integer >= 1)")
    objective = hp["objective"]
    if objective not in OBJECTIVES:
        errors.append(
            f"hyperparameter objective={objective!r} is invalid: must be one of "
            + ", ".join(OBJECTIVES)
        )
    if objective.startswith("multi:") and hp["num_class"] is None:
        errors.append(f"hyperparameter num_class is required when objective is {objective}")
    if hp["max_depth"] == 0 and hp["grow_policy"] != "lossguide":
        errors.append("max_depth=0 (no limit) needs grow_policy=lossguide")
    for name in ("interaction_constraints", "monotone_constraints"):
        text = hp[name]
        if text is not None and not re.fullmatch(r"[\s\[\]\(\),0-9-]+", text):
            errors.append(
                f"hyperparameter {name}={text!r} is invalid: must be a list of integers such "
                "as [[0, 1], [2, 3]] or (0, 1, -1)"
            )

    metrics = [m.strip() for m in (hp["eval_metric"] or "").split(",") if m.strip()]
    for metric in metrics:
        if metric_base(metric) not in NATIVE_METRICS + EXTRA_METRICS:
            errors.append(
                f"hyperparameter eval_metric has an unknown metric {metric!r}; valid: "
                + ", ".join(NATIVE_METRICS + EXTRA_METRICS)
            )
    if errors:
        raise sm.ClientError("; ".join(errors))
    if not metrics:
        metrics = default_metrics(objective)

    # Automatic model tuning passes its objective as `_tuning_objective_metric` (e.g.
    # "validation:auc") for use during training: make sure the job emits it, and stop on it.
    stop_metric = metrics[-1] if metrics else None
    tuning = raw.get("_tuning_objective_metric", "")
    if ":" in tuning:
        wanted = tuning.split(":", 1)[1]
        if metric_base(wanted) in NATIVE_METRICS + EXTRA_METRICS:
            if wanted not in metrics:
                metrics.append(wanted)
                notes.append(f"eval_metric {wanted} added for the tuning objective {tuning}")
            stop_metric = wanted
    return Config(hp, given, metrics, stop_metric, notes)


def xgboost_params(config: Config) -> dict[str, Any]:
    """What goes to xgboost.train: the hyperparameters the job set, translated where XGBoost 3
    differs from the documented release."""
    hp, given = config.hp, config.given
    params: dict[str, Any] = {"objective": hp["objective"], "seed": hp["seed"]}
    for name in sorted(given):
        if name in NOT_PASSED or name in ("objective", "seed"):
            continue
        if name in DART_ONLY and hp["booster"] != "dart":
            continue
        if name == "tweedie_variance_power" and hp["objective"] != "reg:tweedie":
            continue
        params[name] = hp[name]
    ignored = sorted(given & {"deterministic_histogram", "single_precision_histogram",
                              "sketch_eps", "lambda_bias", "use_dask_gpu_training"})  # fmt: skip
    if ignored:
        config.notes.append(f"not used by XGBoost {_xgb_version()}: {', '.join(ignored)}")
    if params.get("tree_method") == "gpu_hist":
        params["tree_method"] = "hist"
        config.notes.append("WARNING: tree_method=gpu_hist runs as hist on the CPU here (no GPU)")
    if params["objective"] == "reg:linear":  # the old name, gone from XGBoost
        params["objective"] = "reg:squarederror"
    if hp["objective"].startswith("multi:"):
        params["num_class"] = hp["num_class"]
    native = [m for m in config.metrics if metric_base(m) not in EXTRA_METRICS]
    if native:
        params["eval_metric"] = native
    elif config.metrics:  # only our own metrics: do not let XGBoost add its default
        params["disable_default_eval_metric"] = 1
    return params


def _xgb_version() -> str:
    import xgboost

    return xgboost.__version__


# --- data ------------------------------------------------------------------------------------


@dataclass
class Channel:
    labels: np.ndarray
    features: Any  # numpy array (CSV) or scipy CSR matrix (libsvm)
    weights: np.ndarray | None
    qid: np.ndarray | None
    width: int


def channel_files(name: str) -> list[Path]:
    root = sm.DATA_DIR / name
    if not root.is_dir():
        raise sm.ClientError(
            f"channel {name!r} is missing: no directory {root}; add a channel named {name!r} "
            "to InputDataConfig"
        )
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise sm.ClientError(f"channel {name!r} is empty: no files under {root}")
    return files


def content_type(name: str, files: list[Path]) -> str:
    """'csv' or 'libsvm' for a channel, from its ContentType or, when none is given, its data."""
    config = sm.read_json(sm.CONFIG_DIR / "inputdataconfig.json", {})
    declared = config.get(name) if isinstance(config, dict) else None
    declared = declared if isinstance(declared, dict) else {}
    if declared.get("TrainingInputMode") == "Pipe":
        raise sm.ClientError(f"channel {name!r} uses Pipe mode; use File or FastFile")
    raw = declared.get("ContentType")
    if raw:
        base = str(raw).split(";", 1)[0].strip().lower()
        if base in CSV_TYPES:
            return "csv"
        if base in LIBSVM_TYPES:
            return "libsvm"
        raise sm.ClientError(
            f"channel {name!r} has ContentType {raw!r}: this XGBoost stand-in reads text/csv "
            "and text/libsvm (recordio-protobuf and parquet are not supported locally)"
        )
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                tokens = line.split("#", 1)[0].split()
                if tokens:
                    return "libsvm" if len(tokens) > 1 and ":" in tokens[1] else "csv"
    return "csv"


def _bad_line(path: Path, lineno: int, what: str, line: str) -> sm.ClientError:
    return sm.ClientError(
        f"{path.relative_to(sm.DATA_DIR)} line {lineno}: {what}: {line[:80].rstrip()!r}"
    )


def read_csv(name: str, files: list[Path], weighted: bool) -> Channel:
    rows: list[list[float]] = []
    width = None
    first = 2 if weighted else 1
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = [float(c) if c.strip() else math.nan for c in line.split(",")]
                except ValueError:
                    raise _bad_line(
                        path, lineno, "not numeric CSV (label first, no header)", line
                    ) from None
                if width is None:
                    width = len(row)
                    if width <= first:
                        raise _bad_line(
                            path,
                            lineno,
                            f"{width} column(s); need the label"
                            + (", the weight (csv_weights=1)" if weighted else "")
                            + " and at least one feature",
                            line,
                        )
                if len(row) != width:
                    raise _bad_line(path, lineno, f"{len(row)} columns, expected {width}", line)
                rows.append(row)
    if not rows:
        raise sm.ClientError(f"channel {name!r} has no data rows")
    data = np.asarray(rows, dtype=np.float32)
    labels = data[:, 0]
    if not np.isfinite(labels).all():
        raise sm.ClientError(f"channel {name!r}: every row needs a numeric label (first column)")
    weights = data[:, 1] if weighted else None
    features = data[:, first:]
    return Channel(labels, features, weights, None, features.shape[1])


def read_libsvm(name: str, files: list[Path]) -> Channel:
    labels: list[float] = []
    weights: list[float] = []
    qids: list[int] = []
    indptr, indices, values = [0], [], []
    width = 0
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for lineno, line in enumerate(handle, 1):
                tokens = line.split("#", 1)[0].split()
                if not tokens:
                    continue
                try:
                    label, _, weight = tokens[0].partition(":")
                    labels.append(float(label))
                    weights.append(float(weight) if weight else 1.0)
                    start = 1
                    if len(tokens) > 1 and tokens[1].startswith("qid:"):
                        qids.append(int(tokens[1][4:]))
                        start = 2
                    for token in tokens[start:]:
                        index, _, value = token.partition(":")
                        position = int(index)
                        if position < 0 or not value:
                            raise ValueError
                        indices.append(position)
                        values.append(float(value))
                        width = max(width, position + 1)
                except ValueError:
                    raise _bad_line(
                        path, lineno, "not libsvm (<label>[:<weight>] <index>:<value> ...)", line
                    ) from None
                indptr.append(len(indices))
    if not labels:
        raise sm.ClientError(f"channel {name!r} has no data rows")
    if qids and len(qids) != len(labels):
        raise sm.ClientError(f"channel {name!r}: either every row has a qid or none")
    from scipy.sparse import csr_matrix

    matrix = csr_matrix(
        (np.asarray(values, dtype=np.float32), np.asarray(indices), np.asarray(indptr)),
        shape=(len(labels), max(width, 1)),
    )
    w = np.asarray(weights, dtype=np.float32)
    return Channel(
        np.asarray(labels, dtype=np.float32),
        matrix,
        None if (w == 1.0).all() else w,
        np.asarray(qids) if qids else None,
        matrix.shape[1],
    )


def read_channel(name: str, csv_weights: bool) -> Channel:
    files = channel_files(name)
    kind = content_type(name, files)
    channel = read_libsvm(name, files) if kind == "libsvm" else read_csv(name, files, csv_weights)
    sm.emit(f"channel {name}: {kind}, {len(files)} file(s), {len(channel.labels)} rows, "
            f"{channel.width} features")  # fmt: skip
    return channel


def to_dmatrix(channel: Channel, width: int):
    import xgboost as xgb

    features = channel.features
    if hasattr(features, "tocsr"):  # libsvm: the same width for train and validation
        features.resize((features.shape[0], width))
    return xgb.DMatrix(
        features, label=channel.labels, weight=channel.weights, qid=channel.qid, missing=np.nan
    )


# --- metrics and the per-round log line ------------------------------------------------------


def extra_metric(name: str, objective: str):
    """The built-in's own metrics, as an XGBoost custom metric over transformed predictions."""

    def classes(predt: np.ndarray) -> np.ndarray:
        if predt.ndim == 2:  # multi:softprob
            return predt.argmax(axis=1)
        if objective.startswith("multi:"):  # multi:softmax predicts the class
            return np.rint(predt)
        threshold = 0.0 if objective == "binary:logitraw" else 0.5
        return (predt > threshold).astype(float)

    def compute(predt: np.ndarray, dmatrix) -> tuple[str, float]:
        y = dmatrix.get_label()
        if name == "accuracy":
            return name, float((classes(predt) == y).mean())
        if name == "f1":
            pred = classes(predt)
            labels = np.unique(np.concatenate([y, pred]))
            positive = [1.0] if set(labels) <= {0.0, 1.0} else list(labels)
            scores = []
            for c in positive:  # binary: F1 of class 1; multiclass: macro average
                tp = float(((pred == c) & (y == c)).sum())
                fp = float(((pred == c) & (y != c)).sum())
                fn = float(((pred != c) & (y == c)).sum())
                scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
            return name, float(np.mean(scores))
        values = predt if predt.ndim == 1 else predt.argmax(axis=1)
        mse = float(((values - y) ** 2).mean())
        if name == "mse":
            return name, mse
        variance = float(((y - y.mean()) ** 2).mean())
        return name, 1.0 - mse / variance if variance > 0 else 0.0

    return compute


def make_callbacks(stop: sm.StopSignal):
    import xgboost as xgb

    class RoundLog(xgb.callback.TrainingCallback):
        """`[round]#011train-<metric>:<value>#011validation-<metric>:<value>` per round, the
        tab shown as CloudWatch shows it; stops after the current round on SIGTERM."""

        def after_iteration(self, model, epoch: int, evals_log) -> bool:
            parts = [f"[{epoch}]"]
            for data_name, metrics in evals_log.items():
                for metric, history in metrics.items():
                    parts.append(f"{data_name}-{metric}:{history[-1]:.5f}")
            sm.emit("#011".join(parts))
            return stop.requested

    return RoundLog


def maximize(metric: str) -> bool:
    return metric_base(metric) in MAXIMIZE


# --- training --------------------------------------------------------------------------------


def xgboost_message(exc: Exception) -> str:
    """XGBoost's error without its stack trace and source location."""
    text = str(exc).split("Stack trace:", 1)[0].strip()
    text = re.sub(r"^\[[0-9:]+\]\s+\S+:[0-9]+:\s*", "", text)
    return " ".join(text.split()) or "unknown error"


def save_model(booster) -> None:
    sm.write_atomically(sm.MODEL_DIR / "xgboost-model", bytes(booster.save_raw("ubj")))


def train(stop: sm.StopSignal) -> int:
    raw = sm.raw_hyperparameters()
    config = parse_config(raw)
    hp = config.hp
    params = xgboost_params(config)

    import xgboost as xgb

    train_data = read_channel("train", bool(hp["csv_weights"]))
    validation = None
    if (sm.DATA_DIR / "validation").is_dir():
        validation = read_channel("validation", bool(hp["csv_weights"]))
    width = max(train_data.width, validation.width if validation else 0)
    if (
        validation is not None
        and isinstance(train_data.features, np.ndarray)
        and train_data.width != validation.width
    ):
        raise sm.ClientError(
            f"train has {train_data.width} feature columns but validation has {validation.width}"
        )
    for note in config.notes:
        sm.emit(note)
    sm.emit(
        f"XGBoost {xgb.__version__}: num_round={hp['num_round']} "
        f"parameters {json.dumps(params, sort_keys=True)}"
    )

    try:
        dtrain = to_dmatrix(train_data, width)
        evals = [(dtrain, "train")]
        if validation is not None:
            evals.append((to_dmatrix(validation, width), "validation"))
        extras = [m for m in config.metrics if metric_base(m) in EXTRA_METRICS]
        custom = None
        if extras:
            functions = [extra_metric(m, params["objective"]) for m in extras]

            def custom(predt, dmatrix):
                return [f(predt, dmatrix) for f in functions]

        callbacks = [make_callbacks(stop)()]
        if hp["early_stopping_rounds"] is not None and config.stop_metric:
            data_name = evals[-1][1]
            if data_name != "validation":
                sm.emit("early_stopping_rounds without a validation channel: stopping on train")
            callbacks.append(
                xgb.callback.EarlyStopping(
                    rounds=hp["early_stopping_rounds"],
                    metric_name=config.stop_metric,
                    data_name=data_name,
                    maximize=maximize(config.stop_metric),
                    save_best=False,
                )
            )
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=hp["num_round"],
            evals=evals,
            custom_metric=custom,
            verbose_eval=False,
            callbacks=callbacks,
        )
    except xgb.core.XGBoostError as exc:
        raise sm.ClientError(f"XGBoost rejected the job: {xgboost_message(exc)}") from None

    rounds = booster.num_boosted_rounds()
    best = booster.attr("best_iteration")
    early = best is not None and rounds < hp["num_round"] and not stop.requested
    if early:
        sm.emit(
            f"early stopping after round {rounds - 1}; best round {best} by "
            f"{config.stop_metric}: saving the model of rounds 0..{best}"
        )
        try:
            booster = booster[: int(best) + 1]
        except (ValueError, xgb.core.XGBoostError):  # gblinear models cannot be sliced
            sm.emit("this booster cannot be cut at the best round; saving all rounds")
    save_model(booster)
    if stop.requested:
        sm.emit(f"stopped by SIGTERM after {rounds} rounds; model saved")
        return sm.EXIT_STOPPED
    sm.emit(f"saved {sm.MODEL_DIR / 'xgboost-model'} ({booster.num_boosted_rounds()} rounds)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sm.run(train)

"""Benchmark problems for the strategy benchmark, each in SageMaker ParameterRanges form.

Every objective takes rendered hyperparameters (strings, as a training job receives them) and
returns the objective; `maximize` says which way is better; `optimum` is the known optimum
(synthetic functions) or None (estimated as the best value any run found).
Machine-learning problems use scikit-learn's bundled data sets (no downloads), 3-fold
stratified CV with fixed splits and fixed model seeds, so each objective is deterministic.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

Params = dict[str, str]


@dataclass(frozen=True)
class Problem:
    name: str
    ranges: dict
    objective: Callable[[Params], float]
    maximize: bool
    optimum: float | None
    note: str


def _cont(name: str, lo: float, hi: float, scaling: str = "Linear") -> dict:
    return {"Name": name, "MinValue": str(lo), "MaxValue": str(hi), "ScalingType": scaling}


def _int(name: str, lo: int, hi: int, scaling: str = "Linear") -> dict:
    return {"Name": name, "MinValue": str(lo), "MaxValue": str(hi), "ScalingType": scaling}


def _cat(name: str, values: list[str]) -> dict:
    return {"Name": name, "Values": values}


# ----- synthetic ---------------------------------------------------------------------------
def branin(p: Params) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: Params) -> float:
    x = np.array([float(p[f"x{i}"]) for i in range(1, 7)])
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


_LR_OPT = {"sgd": -1.5, "adam": -3.2, "rmsprop": -3.5}
_OPT_OFF = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1}
_ACT_OFF = {"relu": 0.1, "tanh": 0.3, "gelu": 0.0, "sigmoid": 0.8}


def mixed(p: Params) -> float:
    """A made-up "network training loss" with log, reverse-log, integer and categorical
    hyperparameters and interactions (optimiser-dependent learning rate, depth-width trade)."""
    opt, act = p["optimizer"], p["activation"]
    lr, mom = math.log10(float(p["learning_rate"])), float(p["momentum"])
    layers, units = int(p["layers"]), math.log2(int(p["units"]))
    return ((lr - _LR_OPT[opt]) ** 2 / 2 + 0.5 * (-math.log10(1 - mom) - 2) ** 2
            + 0.1 * (layers - 4) ** 2 + 0.3 * (units - 8 + 0.3 * (layers - 4)) ** 2
            + _ACT_OFF[act] + _OPT_OFF[opt] + 0.05 * math.sin(3 * lr) ** 2)


def _wall(t: float) -> float:
    """0 at t = 0.35 (a wide interior basin), a ridge of 0.5 around t = 0.7, then falling to
    -0.2 exactly at the bound t = 1."""
    return 0.5 * (1 - math.exp(-(t - 0.35) ** 2 / 0.02)) - 0.7 * max(0.0, (t - 0.85) / 0.15) ** 2


def boundary(p: Params) -> float:
    """Trap 3 (issue 14): the optimum lies on range bounds ("more epochs / less dropout is
    better" past a ridge): a at its MaxValue, b at its MinValue (log scale), each with an
    interior local basin that a model refines unless it tries the bounds; plus Branin over
    (c, d), divided by 20. Optimum -0.4 (both bounds and a Branin minimum)."""
    a, tb = float(p["a"]), (math.log10(float(p["b"])) + 4) / 4
    inner = branin({"x1": p["c"], "x2": p["d"]}) - 0.397887357729738
    return _wall(a) + _wall(1 - tb) + inner / 20


def levels(p: Params) -> float:
    """Trap 2 (issue 14): a categorical level that looks average everywhere except a small
    region (at a particular integer level) that holds the global optimum 0. Level "a" is a
    wide bowl (minimum 0.3); level "b" is nearly flat around 0.6 (about a's mean), with a dip
    to 0 at (x1, x2, k) = (0.85, 0.15, 6) that a model sees only if it keeps sampling "b"."""
    x1, x2, k = float(p["x1"]), float(p["x2"]), int(p["k"])
    if p["mode"] == "a":
        return 0.3 + 0.8 * ((x1 - 0.3) ** 2 + (x2 - 0.6) ** 2) + 0.03 * (k - 3) ** 2
    dip = math.exp(-((x1 - 0.85) ** 2 + (x2 - 0.15) ** 2) / 0.02 - (k - 6) ** 2 / 8)
    return (0.65 + 0.1 * (x1 - x2)) * (1 - dip)


# ----- scikit-learn ------------------------------------------------------------------------
@cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer, load_digits

    if name == "breast_cancer":
        return load_breast_cancer(return_X_y=True)
    X, y = load_digits(return_X_y=True)
    if name == "digits_600":
        return X[:600], y[:600]
    if name == "digits_360":
        return X[:360], y[:360]
    return X, y


def _cv(estimator: object, data: str, scoring: str) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = _data(data)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(estimator, X, y, cv=cv, scoring=scoring, error_score=np.nan)
    return float(np.mean(scores))


def svm_breast_cancer(p: Params) -> float:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    est = make_pipeline(StandardScaler(), SVC(C=float(p["C"]), gamma=float(p["gamma"]),
                                              kernel=p["kernel"]))
    return _cv(est, "breast_cancer", "accuracy")


def sgd_digits(p: Params) -> float:
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = make_pipeline(StandardScaler(), SGDClassifier(
        loss=p["loss"], alpha=float(p["alpha"]), l1_ratio=float(p["l1_ratio"]),
        penalty="elasticnet", learning_rate=p["learning_rate"], eta0=float(p["eta0"]),
        max_iter=int(p["max_iter"]), tol=None, random_state=0))
    return 1.0 - _cv(est, "digits_600", "accuracy")


def rf_breast_cancer(p: Params) -> float:
    from sklearn.ensemble import RandomForestClassifier

    est = RandomForestClassifier(
        n_estimators=int(p["n_estimators"]), max_depth=int(p["max_depth"]),
        min_samples_leaf=int(p["min_samples_leaf"]), max_features=float(p["max_features"]),
        criterion=p["criterion"], random_state=0, n_jobs=1)
    return -_cv(est, "breast_cancer", "neg_log_loss")


def mlp_digits(p: Params) -> float:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(int(p["hidden"]),), alpha=float(p["alpha"]),
        learning_rate_init=float(p["learning_rate_init"]), batch_size=int(p["batch_size"]),
        activation=p["activation"], max_iter=15, random_state=0))
    return -_cv(est, "digits_360", "neg_log_loss")


PROBLEMS: dict[str, Problem] = {p.name: p for p in [
    Problem("branin", {"ContinuousParameterRanges": [
        _cont("x1", -5, 10), _cont("x2", 0, 15)]}, branin, False, 0.397887357729738,
        "Branin, 2 continuous"),
    Problem("hartmann6", {"ContinuousParameterRanges": [
        _cont(f"x{i}", 0, 1) for i in range(1, 7)]}, hartmann6, False, -3.32236801141551,
        "Hartmann 6-D, 6 continuous"),
    Problem("mixed", {
        "ContinuousParameterRanges": [_cont("learning_rate", 1e-5, 1.0, "Logarithmic"),
                                      _cont("momentum", 0.0, 0.999, "ReverseLogarithmic")],
        "IntegerParameterRanges": [_int("layers", 1, 10), _int("units", 4, 1024, "Logarithmic")],
        "CategoricalParameterRanges": [_cat("activation", ["relu", "tanh", "gelu", "sigmoid"]),
                                       _cat("optimizer", ["sgd", "adam", "rmsprop"])]},
        mixed, False, 0.0, "synthetic: log, reverse-log, 2 integers, 2 categoricals; the "
        "optimizer choice moves the learning-rate optimum (trap 1, categorical basin)"),
    Problem("boundary", {"ContinuousParameterRanges": [
        _cont("a", 0, 1), _cont("b", 1e-4, 1, "Logarithmic"), _cont("c", -5, 10),
        _cont("d", 0, 15)]}, boundary, False, 2 * _wall(1.0),
        "synthetic: optimum on two range bounds (trap 3)"),
    Problem("levels", {
        "ContinuousParameterRanges": [_cont("x1", 0, 1), _cont("x2", 0, 1)],
        "IntegerParameterRanges": [_int("k", 1, 8)],
        "CategoricalParameterRanges": [_cat("mode", ["a", "b"])]}, levels, False, 0.0,
        "synthetic: the best region hides in an average-looking level (trap 2)"),
    Problem("svm_breast_cancer", {
        "ContinuousParameterRanges": [_cont("C", 1e-3, 1e3, "Logarithmic"),
                                      _cont("gamma", 1e-5, 10.0, "Logarithmic")],
        "CategoricalParameterRanges": [_cat("kernel", ["rbf", "sigmoid"])]},
        svm_breast_cancer, True, None, "SVC, breast cancer, 3-fold CV accuracy (maximise)"),
    Problem("sgd_digits", {
        "ContinuousParameterRanges": [_cont("alpha", 1e-7, 1e-1, "Logarithmic"),
                                      _cont("l1_ratio", 0.0, 1.0),
                                      _cont("eta0", 1e-5, 1.0, "Logarithmic")],
        "IntegerParameterRanges": [_int("max_iter", 2, 30)],
        "CategoricalParameterRanges": [
            _cat("loss", ["hinge", "log_loss", "modified_huber", "perceptron"]),
            _cat("learning_rate", ["constant", "optimal", "invscaling", "adaptive"])]},
        sgd_digits, False, None, "SGDClassifier elastic net, 600 digits, 3-fold CV error"),
    Problem("rf_breast_cancer", {
        "IntegerParameterRanges": [_int("n_estimators", 5, 40, "Logarithmic"),
                                   _int("max_depth", 1, 15),
                                   _int("min_samples_leaf", 1, 30, "Logarithmic")],
        "ContinuousParameterRanges": [_cont("max_features", 0.05, 1.0)],
        "CategoricalParameterRanges": [_cat("criterion", ["gini", "entropy"])]},
        rf_breast_cancer, False, None, "random forest, breast cancer, 3-fold CV log-loss"),
    Problem("mlp_digits", {
        "IntegerParameterRanges": [_int("hidden", 8, 128, "Logarithmic"),
                                   _int("batch_size", 16, 128, "Logarithmic")],
        "ContinuousParameterRanges": [_cont("alpha", 1e-6, 1e-1, "Logarithmic"),
                                      _cont("learning_rate_init", 1e-4, 1e-1, "Logarithmic")],
        "CategoricalParameterRanges": [_cat("activation", ["relu", "tanh", "logistic"])]},
        mlp_digits, False, None, "MLP (15 epochs), 360 digits, 3-fold CV log-loss"),
]}

"""SageMaker's built-in algorithms: the metrics each emits, as AWS defines them, and which run
locally.

On SageMaker a built-in algorithm needs no `MetricDefinitions`: the service knows the metrics
each algorithm emits, accepts any of them as the tuning objective, rejects any other, and
parses them from the job's log (spec §2.3, C5 applies to custom images only). This table gives
smlocal the same knowledge.

Per algorithm (keyed by the SDK's image family name, `sagemaker/image_uri_config/<name>.json`,
which `orchestrator.aws_image_registries` maps repositories to):

- `metrics`: name, optimisation direction and the regex applied to the log. Names and
  directions are the algorithm's "Metrics computed by …" table on its tuning page (`doc`).
  Regexes: XGBoost's are the ones the service injects into built-in XGBoost jobs (quoted in
  AWS's define-metrics page and in real DescribeTrainingJob output); linear learner's are the
  38 the service injected in a real tuning job (spec §11 E-obs-1); the other algorithms log in
  the same `#quality_metric: host=…, <channel> <metric> <score|loss>=<value>` format, and their
  regexes follow it ([INF]: they matter only when a user maps such an image to a local one).
- `stand_in`: the local image that runs the algorithm, or None (rejected at create time as a
  local limitation, unless the user maps the image, see `orchestrator.images`).
"""

from __future__ import annotations

from dataclasses import dataclass

MAXIMIZE, MINIMIZE = "Maximize", "Minimize"
DOCS = "https://docs.aws.amazon.com/sagemaker/latest/dg/"
XGBOOST_STAND_IN = "smlocal/xgboost:latest"
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


@dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # Maximize | Minimize
    regex: str

    def definition(self) -> dict[str, str]:
        """As a MetricDefinitions entry."""
        return {"Name": self.name, "Regex": self.regex}


@dataclass(frozen=True)
class BuiltinAlgorithm:
    name: str  # the SDK's image family (image_uri_config/<name>.json)
    title: str
    doc: str  # the algorithm's tuning page: its metric table
    metrics: tuple[Metric, ...]
    stand_in: str | None = None

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def metric_definitions(self) -> list[dict[str, str]]:
        return [m.definition() for m in self.metrics]


def _quality(specs: str, channels: tuple[str, ...] = ("test",)) -> tuple[Metric, ...]:
    """`#quality_metric` metrics from "name:direction:kind ..." (kind: score or loss)."""
    out = []
    for channel in channels:
        for spec in specs.split():
            name, direction, kind = spec.split(":")
            out.append(Metric(f"{channel}:{name}", direction,
                              rf"#quality_metric: host=\S+, {channel} {name} <{kind}>=(\S+)"))
    return tuple(out)


def _xgboost() -> tuple[Metric, ...]:
    """validation: and train: metrics; the tuning page's twelve, then r2 (in the built-in's
    MetricDefinitions) and XGBoost's aucpr, rmsle and mape, which the log shows the same way."""
    maximize = {"accuracy", "auc", "f1", "map", "ndcg", "r2", "aucpr"}
    names = ("accuracy", "auc", "error", "f1", "logloss", "mae", "map", "merror", "mlogloss",
             "mse", "ndcg", "rmse", "r2", "aucpr", "rmsle", "mape")
    out = []
    prefixes = (("validation", r".*\[[0-9]+\].*#011"), ("train", r".*\[[0-9]+\]#011"))
    for channel, prefix in prefixes:
        for name in names:
            out.append(Metric(f"{channel}:{name}", MAXIMIZE if name in maximize else MINIMIZE,
                              rf"{prefix}{channel}-{name}:{_NUMBER}.*"))
    return tuple(out)


_LINEAR_LEARNER = (
    "absolute_loss:Minimize:loss binary_classification_accuracy:Maximize:score "
    "binary_f_beta:Maximize:score dcg:Maximize:score macro_f_beta:Maximize:score "
    "macro_precision:Maximize:score macro_recall:Maximize:score mse:Minimize:loss "
    "multiclass_accuracy:Maximize:score multiclass_top_k_accuracy:Maximize:score "
    "objective_loss:Minimize:loss precision:Maximize:score recall:Maximize:score "
    "roc_auc_score:Maximize:score"
)


def _linear_learner() -> tuple[Metric, ...]:
    # E-obs-1's regexes: f_beta and top_k names carry a suffix in the log; objective_loss is
    # logged as `<loss function>_objective`.
    special = {
        "binary_f_beta": r"binary_f_\S+ <score>", "macro_f_beta": r"macro_f_\S+ <score>",
        "multiclass_top_k_accuracy": r"multiclass_top_k_accuracy_\S+ <score>",
        "objective_loss": r"\S+_objective <loss>",
    }
    out = []
    for metric in _quality(_LINEAR_LEARNER, ("test", "validation")):
        channel, name = metric.name.split(":")
        if name in special:
            metric = Metric(metric.name, metric.direction,
                            rf"#quality_metric: host=\S+, {channel} {special[name]}=(\S+)")
        out.append(metric)
    return tuple(out)


ALGORITHMS: dict[str, BuiltinAlgorithm] = {a.name: a for a in (
    BuiltinAlgorithm("xgboost", "XGBoost", DOCS + "xgboost-tuning.html", _xgboost(),
                     stand_in=XGBOOST_STAND_IN),
    BuiltinAlgorithm("linear-learner", "Linear Learner", DOCS + "linear-learner-tuning.html",
                     _linear_learner()),
    BuiltinAlgorithm("kmeans", "K-Means", DOCS + "k-means-tuning.html",
                     _quality("msd:Minimize:loss ssd:Minimize:loss")),
    BuiltinAlgorithm("knn", "k-NN", DOCS + "kNN-tuning.html",
                     _quality("accuracy:Maximize:score mse:Minimize:loss")),
    BuiltinAlgorithm("factorization-machines", "Factorization Machines",
                     DOCS + "fm-tuning.html",
                     _quality("rmse:Minimize:loss binary_classification_accuracy:Maximize:score "
                              "binary_classification_cross_entropy:Minimize:loss "
                              "binary_f_beta:Maximize:score")),
    BuiltinAlgorithm("image-classification", "Image Classification (MXNet)",
                     DOCS + "IC-tuning.html",
                     (Metric("validation:accuracy", MAXIMIZE,
                             r"Validation-accuracy=([-+]?[0-9]*\.?[0-9]+)"),)),
    BuiltinAlgorithm("object-detection", "Object Detection (MXNet)",
                     DOCS + "object-detection-tuning.html",
                     (Metric("validation:mAP", MAXIMIZE,
                             r"#quality_metric: host=\S+, epoch=\S+, validation mAP <score>=(\S+)"),)),
    BuiltinAlgorithm("semantic-segmentation", "Semantic Segmentation",
                     DOCS + "segmentation-tuning.html",
                     tuple(Metric(f"validation:{n}", MAXIMIZE,
                                  rf"#quality_metric: host=\S+, epoch=\S+, validation {n} "
                                  r"<score>=(\S+)") for n in ("mIOU", "pixel_accuracy"))),
    BuiltinAlgorithm("seq2seq", "Sequence-to-Sequence", DOCS + "seq2seq-tuning.html",
                     _quality("accuracy:Maximize:score bleu:Maximize:score "
                              "perplexity:Minimize:loss", ("validation",))),
    BuiltinAlgorithm("blazingtext", "BlazingText", DOCS + "blazingtext-tuning.html",
                     (Metric("train:mean_rho", MAXIMIZE, r"#train_mean_rho: (\S+)"),
                      Metric("validation:accuracy", MAXIMIZE, r"#validation_accuracy: (\S+)"))),
    BuiltinAlgorithm("forecasting-deepar", "DeepAR Forecasting", DOCS + "deepar-tuning.html",
                     (Metric("test:RMSE", MINIMIZE, r"#test_score \(algo-1, RMSE\): (\S+)"),
                      Metric("test:mean_wQuantileLoss", MINIMIZE,
                             r"#test_score \(algo-1, mean_wQuantileLoss\): (\S+)"),
                      Metric("train:final_loss", MINIMIZE,
                             r"#quality_metric: host=\S+, train final_loss <loss>=(\S+)"))),
    BuiltinAlgorithm("ipinsights", "IP Insights", DOCS + "ip-insights-tuning.html",
                     _quality("discriminator_auc:Maximize:score", ("validation",))),
    BuiltinAlgorithm("lda", "Latent Dirichlet Allocation", DOCS + "lda-tuning.html",
                     _quality("pwll:Maximize:score")),
    BuiltinAlgorithm("ntm", "Neural Topic Model", DOCS + "ntm-tuning.html",
                     _quality("total_loss:Minimize:loss", ("validation",))),
    BuiltinAlgorithm("object2vec", "Object2Vec", DOCS + "object2vec-tuning.html",
                     _quality("accuracy:Maximize:score cross_entropy:Minimize:loss "
                              "mean_squared_error:Minimize:loss", ("test", "validation"))),
    BuiltinAlgorithm("randomcutforest", "Random Cut Forest",
                     DOCS + "randomcutforest-tuning.html", _quality("f1:Maximize:score")),
    # PCA has no tuning page: it emits no objective metric, so no tuning job can use it.
    BuiltinAlgorithm("pca", "PCA", DOCS + "pca.html", ()),
)}


def runnable_locally() -> list[str]:
    """Names of the built-in algorithms smlocal has a stand-in image for."""
    return [a.name for a in ALGORITHMS.values() if a.stand_in]

"""Service constants the controller's modules share, defined once.

Each is a value of the real service (documented or observed), not a tuning knob: the rules,
the training service and the tuning reconciler import them from here.
"""

from __future__ import annotations

# Every training job of a tuning job gets this static hyperparameter, naming the objective
# metric, and Describe echoes it (spec §9.3; the SDK's attach() reads it).
TUNING_OBJECTIVE_KEY = "_tuning_objective_metric"
# StoppingCondition.MaxRuntimeInSeconds when the request omits it (spec §2.7).
DEFAULT_TRAINING_RUNTIME = 86_400
# StoppingCondition.MaxRuntimeInSeconds at most 28 days [API doc].
MAX_TRAINING_RUNTIME = 28 * 24 * 3600
# FailureReason's maximum length in the API model.
FAILURE_REASON_MAX = 1024

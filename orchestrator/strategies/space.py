"""SageMaker `ParameterRanges` as a search space, and the maps to and from the unit cube.

Notation (spec §4.2, §8):
- A *configuration* is `Params`: name -> value string, rendered as SageMaker renders it
  (integers without a decimal point, continuous `repr(float)`, categoricals byte-for-byte, P3).
- The *box* has one coordinate per parameter in [0, 1]: numeric parameters on their scale,
  categoricals as `(index + u) / k`. Samplers draw in the box (uniform box = scaled sampling).
- The *encoding* ("unit") has `dim` columns: one per numeric parameter (the box coordinate),
  one-hot blocks of k columns per categorical. The GP works here.
- Scale g: Linear g(v) = v, Logarithmic g(v) = log v, ReverseLogarithmic g(v) = -log(1 - v)
  (Syne Tune's internal form, spec §8). `Auto` is Linear (spec P1: never silently log).
- Integers are relaxed to [Min - 0.5, Max + 0.5] on their scale and rounded (spec P2), so every
  integer owns a cell of the unit interval and Linear integers get equal mass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from orchestrator.errors import ValidationError
from orchestrator.status import ScalingType
from orchestrator.strategies.base import Params

# the range parser lives in ranges.py; its names stay importable from here
from orchestrator.strategies.ranges import (  # noqa: F401
    RANGE_KINDS,
    SCALINGS,
    RangeProblem,
    parameter_range_problems,
    parse_bound,
    range_problems,
)

# A discrete space larger than this is never enumerated (dedupe then uses rejection sampling).
ENUMERATION_LIMIT = 20_000


@dataclass(frozen=True)
class NumericParam:
    name: str
    integer: bool
    low: float
    high: float
    scaling: str = ScalingType.Linear.value

    @property
    def _edges(self) -> tuple[float, float]:
        """The interval mapped onto [0, 1] (relaxed by half a step for integers)."""
        return (self.low - 0.5, self.high + 0.5) if self.integer else (self.low, self.high)

    def _g(self, v: np.ndarray) -> np.ndarray:
        if self.scaling == ScalingType.Logarithmic:
            return np.log(v)
        if self.scaling == ScalingType.ReverseLogarithmic:
            return -np.log1p(-v)
        return v

    def _g_inv(self, t: np.ndarray) -> np.ndarray:
        if self.scaling == ScalingType.Logarithmic:
            return np.exp(t)
        if self.scaling == ScalingType.ReverseLogarithmic:
            return -np.expm1(-t)
        return t

    def to_unit(self, v: np.ndarray) -> np.ndarray:
        a, b = self._edges
        v = np.clip(np.asarray(v, dtype=float), a, b)
        ga, gb = self._g(np.array([a, b]))
        if gb <= ga:
            return np.full_like(v, 0.5)
        return np.clip((self._g(v) - ga) / (gb - ga), 0.0, 1.0)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Legal values (floats; integral for integers) for unit coordinates."""
        a, b = self._edges
        ga, gb = self._g(np.array([a, b]))
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        v = self._g_inv(ga + u * (gb - ga))
        if self.integer:
            v = np.floor(v + 0.5)
        # the bounds exactly (exp(log(1e-4)) is 1.0000000000000009e-4, not MinValue)
        return np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high,
                                                      np.clip(v, self.low, self.high)))

    def render(self, v: float) -> str:
        return str(int(v)) if self.integer else repr(float(v))

    def parse(self, s: str) -> float | None:
        try:
            v = float(s)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(v):
            return None
        return float(round(v)) if self.integer else v

    def count(self) -> int | None:
        return int(self.high - self.low) + 1 if self.integer else None

    def center(self) -> float:
        return float(self.from_unit(np.array(0.5)))


def _parse_many(p: NumericParam, raws: list) -> np.ndarray:
    """`p.parse` of every raw value, the centre for a missing or unparsable one. numpy's
    conversion of numeric strings is correctly rounded, as float() is (the same values);
    one array conversion instead of a Python call per value (a suggestion encodes its whole
    history)."""
    try:
        v = np.array(raws, dtype=float)
    except (TypeError, ValueError):  # None, or a string that is not a number
        center = p.center()
        vals = [p.parse(r) if r is not None else None for r in raws]
        return np.array([center if x is None else x for x in vals], dtype=float)
    if p.integer:
        v = np.round(v)  # half to even, as Python's round()
    bad = ~np.isfinite(v)
    if bad.any():
        v[bad] = p.center()
    return v


@dataclass(frozen=True)
class CategoricalParam:
    name: str
    values: tuple[str, ...]


class SearchSpace:
    """The tuned hyperparameters, in request order (range kinds in dict order, then list order)."""

    def __init__(self, params: Sequence[NumericParam | CategoricalParam]) -> None:
        self.params = tuple(params)
        self.names = [p.name for p in self.params]
        self._slices: list[slice] = []
        col = 0
        for p in self.params:
            width = len(p.values) if isinstance(p, CategoricalParam) else 1
            self._slices.append(slice(col, col + width))
            col += width
        self.dim = col
        self.numeric_cols = np.array(
            [s.start for p, s in zip(self.params, self._slices, strict=True)
             if isinstance(p, NumericParam)], dtype=int)

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def from_parameter_ranges(cls, ranges: dict) -> SearchSpace:
        problems = parameter_range_problems(ranges)
        if problems:
            raise ValidationError.from_problems(problems)
        params: list[NumericParam | CategoricalParam] = []
        for key in [k for k in ranges if k in RANGE_KINDS]:
            for r in ranges.get(key) or []:
                if key == "CategoricalParameterRanges":
                    # duplicates would make Grid/dedupe propose one configuration twice
                    params.append(CategoricalParam(r["Name"], tuple(dict.fromkeys(r["Values"]))))
                else:
                    integer = key == "IntegerParameterRanges"
                    scaling = r.get("ScalingType", ScalingType.Auto.value)
                    if scaling == ScalingType.Auto:  # spec P1: never silently log-scale
                        scaling = ScalingType.Linear.value
                    params.append(NumericParam(
                        r["Name"], integer, parse_bound(r["MinValue"], integer),  # type: ignore[arg-type]
                        parse_bound(r["MaxValue"], integer), scaling))  # type: ignore[arg-type]
        return cls(params)

    def to_list(self) -> list[dict]:
        """The parsed parameters as JSON-able dicts (stored in the tuning spec, so a reconcile
        tick rebuilds the space without parsing or validating the ranges again)."""
        return [{"Name": p.name, "Values": list(p.values)} if isinstance(p, CategoricalParam)
                else {"Name": p.name, "Integer": p.integer, "Low": p.low, "High": p.high,
                      "Scaling": p.scaling} for p in self.params]

    @classmethod
    def from_list(cls, items: Sequence[dict]) -> SearchSpace:
        """The inverse of `to_list` (trusted input: no validation)."""
        return cls([CategoricalParam(i["Name"], tuple(i["Values"])) if "Values" in i
                    else NumericParam(i["Name"], bool(i["Integer"]), float(i["Low"]),
                                      float(i["High"]), str(i["Scaling"])) for i in items])

    # ----- properties ---------------------------------------------------------------------
    @property
    def is_discrete(self) -> bool:
        return all(isinstance(p, CategoricalParam) or p.integer for p in self.params)

    def size(self) -> int | None:
        """Number of distinct configurations when every parameter is discrete, else None."""
        total = 1
        for p in self.params:
            k = len(p.values) if isinstance(p, CategoricalParam) else p.count()
            if k is None:
                return None
            total *= k
        return total

    # ----- encoding -----------------------------------------------------------------------
    def to_unit(self, params: Params, defaults: Params | None = None) -> np.ndarray:
        """Encode one configuration. Out-of-range values are clipped, unknown or missing ones
        (a static hyperparameter in a warm-start parent) use `defaults`, else the center;
        an unknown categorical value encodes as 1/k in every column of its block."""
        x = np.empty(self.dim)
        for p, s in zip(self.params, self._slices, strict=True):
            raw = params.get(p.name, (defaults or {}).get(p.name))
            if isinstance(p, CategoricalParam):
                k = len(p.values)
                x[s] = 1.0 / k
                if raw in p.values:
                    x[s] = 0.0
                    x[s.start + p.values.index(raw)] = 1.0
            else:
                v = p.parse(raw) if raw is not None else None
                x[s.start] = p.to_unit(np.array(p.center() if v is None else v))
        return x

    def to_unit_many(self, configs: Sequence[Params], defaults: Params | None = None
                     ) -> np.ndarray:
        """`to_unit` for many configurations at once, [len(configs), dim]."""
        X = np.empty((len(configs), self.dim))
        defaults = defaults or {}
        for p, s in zip(self.params, self._slices, strict=True):
            raws = [c.get(p.name, defaults.get(p.name)) for c in configs]
            if isinstance(p, CategoricalParam):
                k = len(p.values)
                X[:, s] = 1.0 / k
                index = {v: i for i, v in enumerate(p.values)}
                for row, raw in enumerate(raws):
                    if raw in index:
                        X[row, s] = 0.0
                        X[row, s.start + index[raw]] = 1.0
            else:
                X[:, s.start] = p.to_unit(_parse_many(p, raws))
        return X

    def from_unit(self, x: np.ndarray) -> Params:
        """Decode one encoded point (anything in R^dim) to a legal, rendered configuration."""
        out: Params = {}
        for p, s in zip(self.params, self._slices, strict=True):
            if isinstance(p, CategoricalParam):
                out[p.name] = p.values[int(np.argmax(x[s]))]
            else:
                out[p.name] = p.render(float(p.from_unit(np.array(x[s.start]))))
        return out

    def project(self, X: np.ndarray) -> np.ndarray:
        """Snap encoded points (n, dim) to the encodings of legal configurations."""
        X = np.clip(np.array(X, dtype=float), 0.0, 1.0)
        for p, s in zip(self.params, self._slices, strict=True):
            if isinstance(p, CategoricalParam):
                X[:, s] = np.eye(len(p.values))[np.argmax(X[:, s], axis=1)]
            elif p.integer:
                X[:, s.start] = p.to_unit(p.from_unit(X[:, s.start]))
        return X

    # ----- the box: one coordinate per parameter --------------------------------------------
    def box_to_unit(self, B: np.ndarray) -> np.ndarray:
        """Encode box points (n, len(names)) as legal encoded points (n, dim)."""
        B = np.clip(np.asarray(B, dtype=float), 0.0, 1.0)
        X = np.zeros((B.shape[0], self.dim))
        for j, (p, s) in enumerate(zip(self.params, self._slices, strict=True)):
            if isinstance(p, CategoricalParam):
                k = len(p.values)
                idx = np.minimum((B[:, j] * k).astype(int), k - 1)
                X[np.arange(B.shape[0]), s.start + idx] = 1.0
            else:
                X[:, s.start] = B[:, j]
        return self.project(X)

    def unit_to_box(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X)
        B = np.empty((X.shape[0], len(self.params)))
        for j, (p, s) in enumerate(zip(self.params, self._slices, strict=True)):
            if isinstance(p, CategoricalParam):
                B[:, j] = (np.argmax(X[:, s], axis=1) + 0.5) / len(p.values)
            else:
                B[:, j] = X[:, s.start]
        return B

    def column_groups(self) -> np.ndarray:
        """Per encoded column: the index of its parameter (a one-hot block shares one)."""
        out = np.empty(self.dim, dtype=int)
        for j, s in enumerate(self._slices):
            out[s] = j
        return out

    # ----- levels of discrete parameters (per-level candidates, exploration floor) ---------
    def level_params(self, max_levels: int = 16) -> list[int]:
        """Indices of the parameters with few levels: every categorical, and integers with at
        most `max_levels` values."""
        return [j for j, p in enumerate(self.params)
                if isinstance(p, CategoricalParam) or (p.integer and (p.count() or 0) <= max_levels)]

    def n_levels(self, j: int) -> int:
        p = self.params[j]
        return len(p.values) if isinstance(p, CategoricalParam) else int(p.count() or 0)

    def set_level(self, X: np.ndarray, j: int, level: int) -> np.ndarray:
        """A copy of encoded points with parameter j at its `level`-th value (categorical:
        values order; integer: MinValue + level)."""
        X = np.array(X, dtype=float)
        p, s = self.params[j], self._slices[j]
        if isinstance(p, CategoricalParam):
            X[:, s] = 0.0
            X[:, s.start + level] = 1.0
        else:
            X[:, s.start] = float(p.to_unit(np.array(p.low + level)))
        return X

    def level_of(self, X: np.ndarray, j: int) -> np.ndarray:
        """The level index of parameter j in each encoded point."""
        p, s = self.params[j], self._slices[j]
        if isinstance(p, CategoricalParam):
            return np.argmax(np.atleast_2d(X)[:, s], axis=1)
        return (p.from_unit(np.atleast_2d(X)[:, s.start]) - p.low).astype(int)

    def categorical_mask(self) -> np.ndarray:
        """Per box coordinate: True for categoricals."""
        return np.array([isinstance(p, CategoricalParam) for p in self.params])

    def sample(self, rng: np.random.Generator, n: int) -> list[Params]:
        """`n` independent draws, each parameter uniform on its scale (spec §4.1 Random)."""
        X = self.box_to_unit(rng.random((n, len(self.params))))
        return [self.from_unit(x) for x in X]

    # ----- identity ------------------------------------------------------------------------
    def key(self, params: Params) -> tuple:
        """Canonical identity of a configuration ('7' == '7.0' for an integer)."""
        out: list[object] = []
        for p in self.params:
            raw = params.get(p.name)
            out.append(raw if isinstance(p, CategoricalParam) or raw is None else p.parse(raw))
        return tuple(out)

    def enumerate(self) -> list[Params]:
        """Every configuration of a discrete space in lexicographic request order."""
        axes: list[list[str]] = []
        for p in self.params:
            if isinstance(p, CategoricalParam):
                axes.append(list(p.values))
            elif p.integer:
                axes.append([str(v) for v in range(int(p.low), int(p.high) + 1)])
            else:
                raise ValueError(f"'{p.name}' is continuous: the space cannot be enumerated")
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*axes)]

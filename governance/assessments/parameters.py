"""The parameters an assessment accepts, their defaults and their bounds.

Checked when the assessment is requested, before anything is queued, and stored with every
default filled in, so that the record says exactly what was computed and two requests that mean
the same thing have the same request key.
"""

import math
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput


@dataclass(frozen=True)
class Spec:
    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


COMMON = {
    "seed": Spec(int, 0, 0, 2**32 - 1, "random seed for every sample and resample"),
    "task": Spec(str, "auto", help="'binary', 'regression' or 'auto' (from the model's classes)"),
    "threshold": Spec(float, 0.5, 0.0, 1.0, "decision threshold on the positive-class score"),
    "pos_label": Spec(
        object,
        None,
        help="the positive outcome (default: the model's classes_[1],"
        " or 1 for 0/1 predictions-only data)",
    ),
    "decision": Spec(
        str,
        "auto",
        help="'threshold' (scores >= threshold), 'predictions' (the "
        "model's or file's own labels) or 'auto' (threshold when there are scores "
        "from a model, the file's predictions for predictions-only data)",
    ),
}
BY_KIND: dict[str, dict[str, Spec]] = {
    "fairness": {
        **COMMON,
        "n_bootstrap": Spec(int, 200, 0, 10_000, "bootstrap resamples for confidence intervals"),
        "confidence": Spec(float, 0.95, 0.5, 0.999, "confidence level of the intervals"),
        "min_group_size": Spec(int, 30, 1, 10**9, "smaller groups are flagged, not compared"),
    },
    "performance": dict(COMMON),
    "explainability": {
        **COMMON,
        "max_rows": Spec(int, 20_000, 1, 10**8, "explain at most this many rows (sampled)"),
        "n_local": Spec(int, 5, 0, 100, "local explanations of each kind (extreme, random)"),
        "background_rows": Spec(int, 100, 1, 10_000, "background sample (linear, agnostic)"),
        "max_evals": Spec(
            int, 0, 0, 100_000, "model-agnostic budget per row (0: 2 x features + 1)"
        ),
        "chunk_rows": Spec(
            int, 50_000, 100, 10**7, "rows per chunk that one Celery worker computes"
        ),
    },
}
TASKS = ("auto", "binary", "regression")
DECISIONS = ("auto", "threshold", "predictions")


def resolve(kind: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """`given` checked against the kind's parameters, with defaults for what is missing."""
    if kind not in BY_KIND:
        raise InvalidInput(
            f"kind must be one of {', '.join(BY_KIND)}, got {kind!r}", code="invalid_kind"
        )
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise InvalidInput("parameters must be an object", code="invalid_parameters")
    specs = BY_KIND[kind]
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise InvalidInput(
            f"unknown parameter(s) for a {kind} assessment: {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(specs))}",
            code="invalid_parameters",
            field="parameters",
        )
    resolved = {}
    for name, spec in specs.items():
        resolved[name] = _check(name, given.get(name, spec.default), spec)
    if resolved["task"] not in TASKS:
        raise InvalidInput(
            f"parameters.task must be one of {', '.join(TASKS)}, got {resolved['task']!r}",
            code="invalid_parameters",
            field="parameters.task",
        )
    if resolved["decision"] not in DECISIONS:
        raise InvalidInput(
            f"parameters.decision must be one of {', '.join(DECISIONS)}, got "
            f"{resolved['decision']!r}",
            code="invalid_parameters",
            field="parameters.decision",
        )
    return resolved


def _check(name: str, value: Any, spec: Spec) -> Any:
    where = f"parameters.{name}"
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(where, f"must be an integer, got {value!r}")
    elif spec.kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(where, f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise _bad(where, f"must be finite, got {value!r}")
    elif spec.kind is object:
        # A label: what a target column can hold.
        if value is not None and (
            isinstance(value, float) or not isinstance(value, str | int | bool)
        ):
            raise _bad(where, f"must be a string, an integer or a boolean, got {value!r}")
        return value
    elif not isinstance(value, str):
        raise _bad(where, f"must be a string, got {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise _bad(where, f"must be at least {spec.minimum:g}, got {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise _bad(where, f"must be at most {spec.maximum:g}, got {value!r}")
    return value


def _bad(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where} {message}", code="invalid_parameters", field=where)

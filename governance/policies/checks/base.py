"""What every check type shares: its parameters, a pure `evaluate`, and the registry of types."""

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from governance.policies.context import AssessmentFacts, EvidenceContext
from governance.policies.params import Param, clean_params

# Keys every check may carry besides its own parameters.
COMMON_KEYS = frozenset({"id", "type", "title", "description", "clauses"})

REGISTRY: dict[str, type["Check"]] = {}


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    observed: Any = None
    threshold: Any = None
    # References to what the verdict rests on: {"assessments": [ids], ...}.
    evidence: dict[str, Any] = field(default_factory=dict)


def passed(reason: str, **kwargs: Any) -> Verdict:
    return Verdict(True, reason, **kwargs)


def failed(reason: str, **kwargs: Any) -> Verdict:
    return Verdict(False, reason, **kwargs)


def cites(*assessments: AssessmentFacts) -> dict[str, Any]:
    return {
        "assessments": [a.id for a in assessments],
        "datasets": sorted({a.dataset_version for a in assessments}),
    }


class Check:
    """A check type. Subclasses set `type`, `params` and implement `evaluate`.

    `evaluate` must be pure: it reads only the context and the parameters, never the database
    or the clock, so the same evidence always gives the same verdict.
    """

    type: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, parameters: dict[str, Any]) -> None:
        self.p = parameters

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "type", None):
            REGISTRY[cls.type] = cls

    @classmethod
    def clean(cls, raw: dict[str, Any], field: str) -> dict[str, Any]:
        """Validated parameters with defaults filled in; `validate` adds cross-field rules."""
        cleaned = clean_params(cls.params, raw, field, reserved=COMMON_KEYS)
        cls.validate(cleaned, field)
        return cleaned

    @classmethod
    def validate(cls, cleaned: dict[str, Any], field: str) -> None:
        """Rules across parameters; raise PolicyDocumentError naming the field."""

    def evaluate(self, context: EvidenceContext) -> Verdict:
        raise NotImplementedError

    def default_title(self) -> str:
        return self.summary


def finite(value: Any) -> bool:
    """A real, finite number: what a threshold can be compared with. NaN compares false with
    everything, so a NaN metric would slip past `<` and `>`; it (and "NaN" as stored by
    results_json, and any non-number) must fail instead."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)

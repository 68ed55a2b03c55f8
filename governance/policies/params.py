"""Declarative parameters of a check, validated with messages that name the field."""

import copy
import math
from dataclasses import dataclass
from typing import Any

from governance.policies.errors import PolicyDocumentError

_MISSING = object()


@dataclass(frozen=True)
class Param:
    """One parameter of a check type.

    kind: "number", "int", "str", "bool", "str_list", "role_counts" or "object".
    """

    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""

    def clean(self, value: Any, field: str) -> Any:
        cleaned = _CLEANERS[self.kind](value, field)
        if self.choices is not None:
            values = cleaned if isinstance(cleaned, list) else [cleaned]
            for item in values:
                if item not in self.choices:
                    raise PolicyDocumentError(
                        field, f"{item!r} is not one of {', '.join(self.choices)}"
                    )
        if isinstance(cleaned, int | float) and not isinstance(cleaned, bool):
            if self.minimum is not None and cleaned < self.minimum:
                raise PolicyDocumentError(field, f"must be at least {self.minimum}")
            if self.maximum is not None and cleaned > self.maximum:
                raise PolicyDocumentError(field, f"must be at most {self.maximum}")
        return cleaned


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyDocumentError(field, f"must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float (JSON and YAML allow them)
        raise PolicyDocumentError(field, "must be a finite number") from None
    if not math.isfinite(number):
        raise PolicyDocumentError(field, "must be a finite number")
    return number


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyDocumentError(field, f"must be an integer, not {type(value).__name__}")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyDocumentError(field, "must be a non-empty string")
    return value.strip()


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyDocumentError(field, "must be true or false")
    return value


def _str_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise PolicyDocumentError(field, "must be a non-empty list of strings")
    items = [_str(item, f"{field}[{i}]") for i, item in enumerate(value)]
    if len(set(items)) != len(items):
        raise PolicyDocumentError(field, "lists an item more than once")
    return items


def _role_counts(value: Any, field: str) -> dict[str, int]:
    from core import roles

    reviewers = (roles.VALIDATOR, roles.RISK_OFFICER, roles.DATA_SCIENTIST, roles.ADMIN)
    if not isinstance(value, dict) or not value:
        raise PolicyDocumentError(field, "must map roles to counts, e.g. {validator: 1}")
    counts: dict[str, int] = {}
    for role, count in value.items():
        if role not in reviewers:
            raise PolicyDocumentError(
                f"{field}.{role}", f"is not a reviewing role (one of {', '.join(reviewers)})"
            )
        counts[role] = _int(count, f"{field}.{role}")
        if counts[role] < 1:
            raise PolicyDocumentError(f"{field}.{role}", "must be at least 1")
    return counts


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyDocumentError(field, "must be a mapping")
    return value


_CLEANERS = {
    "number": _number,
    "int": _int,
    "str": _str,
    "bool": _bool,
    "str_list": _str_list,
    "role_counts": _role_counts,
    "object": _object,
}


def clean_params(
    spec: dict[str, Param], raw: dict[str, Any], field: str, *, reserved: frozenset[str]
) -> dict[str, Any]:
    """The check's parameters with defaults filled in; unknown keys are refused."""
    # YAML keys need not be strings (1:, true:, 2024-01-01:): compare and sort them as text.
    unknown = sorted(set(map(str, raw)) - set(spec) - reserved)
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise PolicyDocumentError(
            f"{field}.{unknown[0]}", f"is not a parameter of this check type (known: {known})"
        )
    cleaned: dict[str, Any] = {}
    for name, param in spec.items():
        value = raw.get(name, _MISSING)
        if value is _MISSING or value is None:
            if param.required:
                raise PolicyDocumentError(f"{field}.{name}", "is required")
            if param.default is not None:
                # A copy: a caller changing its document must not change the check type.
                cleaned[name] = copy.deepcopy(param.default)
            continue
        cleaned[name] = param.clean(value, f"{field}.{name}")
    return cleaned

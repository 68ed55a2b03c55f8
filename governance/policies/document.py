"""Reading and validating a policy document (YAML or JSON).

A policy:

    name: high-risk-production          # slug
    title: High-risk models in production
    description: ...
    enabled: true                       # default true; false retires the policy
    scope:
      risk_tiers: [high]                # minimal, limited, high
      target_stages: [production]       # staging, production
    checks:
      - id: roc-auc                     # unique within the policy
        type: metric_threshold          # one of governance.policies.checks.REGISTRY
        title: ROC AUC at least 0.80    # optional; a default is derived
        clauses: [eu-ai-act:art-15, nist-ai-rmf:measure-2.5]
        metric: roc_auc                 # the check type's own parameters
        min: 0.80

`parse` returns the normalised document (parameters with defaults filled in) or raises
PolicyDocumentError naming the field, e.g. "checks[2].max: must be a number, not str".
"""

import json
import re
import reprlib
from typing import Any

import yaml

from governance.policies import clauses as clause_catalogue
from governance.policies.checks import REGISTRY
from governance.policies.errors import PolicyDocumentError

MAX_SOURCE_BYTES = 256 * 1024
MAX_CHECKS = 200
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
RISK_TIERS = ("minimal", "limited", "high")
TARGET_STAGES = ("staging", "production")
TOP_LEVEL = frozenset({"name", "title", "description", "enabled", "scope", "checks"})

# Error messages quote offending values through a bounded repr: YAML aliases can make a 400-byte
# document hold a list whose full repr is gigabytes.
_quote = reprlib.Repr(maxlevel=2, maxlist=4, maxdict=4, maxstring=80, maxother=80).repr


def load_source(source: str, source_format: str) -> Any:
    """Text to data. YAML is read with safe_load: no tags, no objects."""
    if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise PolicyDocumentError("source", f"is larger than {MAX_SOURCE_BYTES // 1024} KiB")
    try:
        return _load(source, source_format)
    except RecursionError:  # "[[[[..." nests deeper than either parser can follow
        raise PolicyDocumentError("source", "is nested too deeply") from None


def _load(source: str, source_format: str) -> Any:
    if source_format == "json":
        try:
            return json.loads(source)
        except json.JSONDecodeError as exc:
            raise PolicyDocumentError(
                "source", f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
    if source_format == "yaml":
        try:
            return yaml.safe_load(source)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise PolicyDocumentError("source", f"is not valid YAML: {problem}{where}") from None
        except (ValueError, TypeError, LookupError, AttributeError) as exc:
            # safe_load's constructors let these through for scalars they cannot build:
            # "2024-13-45", "!!int x", "!!bool maybe", "!!int ''".
            raise PolicyDocumentError(
                "source", f"is not valid YAML: a value cannot be read ({type(exc).__name__}: {exc})"
            ) from None
    raise PolicyDocumentError("format", "must be yaml or json")


def parse(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PolicyDocumentError("document", "must be a mapping with name, scope and checks")
    unknown = sorted(set(map(str, data)) - TOP_LEVEL)
    if unknown:
        raise PolicyDocumentError(
            unknown[0], f"is not a policy field ({', '.join(sorted(TOP_LEVEL))})"
        )
    name = data.get("name")
    if not isinstance(name, str) or not SLUG.fullmatch(name):
        raise PolicyDocumentError(
            "name", "must be a slug: lowercase letters, digits, '-' or '_', at most 100 characters"
        )
    document: dict[str, Any] = {
        "name": name,
        "title": _title(data),
        "description": _text(data, "description"),
        "enabled": _enabled(data),
        "scope": _scope(data.get("scope")),
        "checks": _checks(data.get("checks")),
    }
    return document


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PolicyDocumentError(key, "must be a string")
    return value.strip()


def _enabled(data: dict[str, Any]) -> bool:
    value = data.get("enabled", True)
    if not isinstance(value, bool):
        raise PolicyDocumentError("enabled", "must be true or false")
    return value


def _scope(scope: Any) -> dict[str, list[str]]:
    if not isinstance(scope, dict):
        raise PolicyDocumentError(
            "scope", "is required: a mapping with risk_tiers and target_stages"
        )
    unknown = sorted(set(map(str, scope)) - {"risk_tiers", "target_stages"})
    if unknown:
        raise PolicyDocumentError(
            f"scope.{unknown[0]}", "is not a scope field (risk_tiers, target_stages)"
        )
    result = {}
    for key, allowed in (("risk_tiers", RISK_TIERS), ("target_stages", TARGET_STAGES)):
        values = scope.get(key)
        if not isinstance(values, list) or not values:
            raise PolicyDocumentError(
                f"scope.{key}", f"must be a non-empty list of {', '.join(allowed)}"
            )
        for i, value in enumerate(values):
            if value not in allowed:
                raise PolicyDocumentError(
                    f"scope.{key}[{i}]", f"{_quote(value)} is not one of {', '.join(allowed)}"
                )
        if len(set(values)) != len(values):
            raise PolicyDocumentError(f"scope.{key}", "lists a value more than once")
        result[key] = [v for v in allowed if v in values]
    return result


def _checks(checks: Any) -> list[dict[str, Any]]:
    if not isinstance(checks, list) or not checks:
        raise PolicyDocumentError("checks", "must be a non-empty list of checks")
    if len(checks) > MAX_CHECKS:
        raise PolicyDocumentError("checks", f"has more than {MAX_CHECKS} checks")
    seen: set[str] = set()
    result = []
    for index, raw in enumerate(checks):
        field = f"checks[{index}]"
        if not isinstance(raw, dict):
            raise PolicyDocumentError(field, "must be a mapping with id and type")
        check_id = raw.get("id")
        if not isinstance(check_id, str) or not SLUG.fullmatch(check_id):
            raise PolicyDocumentError(f"{field}.id", "must be a slug, unique within the policy")
        if check_id in seen:
            raise PolicyDocumentError(f"{field}.id", f"{check_id!r} is used by another check")
        seen.add(check_id)
        field = f"checks[{index}] ({check_id})"
        check_type = raw.get("type")
        if not isinstance(check_type, str) or check_type not in REGISTRY:
            raise PolicyDocumentError(
                f"{field}.type",
                f"{_quote(check_type)} is not a check type (one of {', '.join(sorted(REGISTRY))})",
            )
        cls = REGISTRY[check_type]
        params = cls.clean(_flat(raw, field), field)
        tags = raw.get("clauses", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise PolicyDocumentError(f"{field}.clauses", "must be a list of clause tags")
        for i, tag in enumerate(tags):
            if clause_catalogue.title_of(tag) is None:
                raise PolicyDocumentError(
                    f"{field}.clauses[{i}]",
                    f"{_quote(tag)} is not a known clause (e.g. eu-ai-act:art-10, nist-ai-rmf:measure-2.11, "
                    f"iso-42001:a.6.2.4, sr-26-2:validation)",
                )
        title = raw.get("title") or cls(params).default_title()
        if not isinstance(title, str):
            raise PolicyDocumentError(f"{field}.title", "must be a string")
        result.append(
            {
                "id": check_id,
                "type": check_type,
                "title": title,
                "description": _text(raw, "description")
                if isinstance(raw.get("description", ""), str)
                else _bad(f"{field}.description"),
                "clauses": list(dict.fromkeys(tags)),
                "params": params,
            }
        )
    return result


def _bad(field: str) -> str:
    raise PolicyDocumentError(field, "must be a string")


def _flat(raw: dict[str, Any], field: str) -> dict[str, Any]:
    """A check's parameters are written flat beside id and type; the normalised document nests
    them under `params`. Both forms are read, so a stored document can be saved back as is."""
    if "params" not in raw:
        return raw
    nested = raw["params"]
    if not isinstance(nested, dict):
        raise PolicyDocumentError(f"{field}.params", "must be a mapping of the check's parameters")
    both = sorted(set(nested) & (set(raw) - {"params"}))
    if both:
        raise PolicyDocumentError(
            f"{field}.params.{both[0]}", "is given both flat and under params; keep one"
        )
    return {**{k: v for k, v in raw.items() if k != "params"}, **nested}


MAX_TITLE = 200  # PolicyVersion.title


def _title(data: dict[str, Any]) -> str:
    title = _text(data, "title")
    if len(title) > MAX_TITLE:
        raise PolicyDocumentError("title", f"must be at most {MAX_TITLE} characters")
    return title

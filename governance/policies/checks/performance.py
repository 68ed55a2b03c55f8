"""Metric thresholds on a performance assessment, optionally relative to production."""

import math
from typing import Any

from governance.policies.checks.base import Check, Verdict, cites, failed, finite, fmt, passed
from governance.policies.context import AssessmentFacts, EvidenceContext, VersionFacts
from governance.policies.errors import PolicyDocumentError
from governance.policies.params import Param

HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})
LOWER_IS_BETTER = frozenset({"log_loss", "brier_score", "mae", "rmse"})
METRICS = tuple(sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER))


def evidence_datasets(version: VersionFacts, given: str | None) -> tuple[str, ...]:
    """The datasets a check may read evidence from: the one it names, else the version's declared
    evaluation datasets (none declared: none, and the check fails). Evidence on any other
    dataset never counts."""
    return (given,) if given else version.evaluation_dataset_names


def no_dataset(threshold: Any = None) -> Verdict:
    return failed(
        "the version declares no evaluation dataset (evaluated_on) and the check names none, so "
        "no evidence can count",
        threshold=threshold,
    )


def on(datasets: tuple[str, ...]) -> str:
    plural = "s" if len(datasets) > 1 else ""
    return f" on dataset{plural} {' or '.join(repr(d) for d in datasets)}"


class MetricThreshold(Check):
    type = "metric_threshold"
    summary = "performance metric threshold"
    params = {
        "metric": Param("str", required=True, choices=METRICS),
        "min": Param("number"),
        "max": Param("number"),
        "dataset": Param("str", help="dataset name; default: the version's evaluation dataset"),
        "max_regression": Param(
            "number",
            minimum=0,
            help="at most this much worse than the production version on the same dataset",
        ),
    }

    @classmethod
    def validate(cls, cleaned: dict[str, Any], field: str) -> None:
        if "min" not in cleaned and "max" not in cleaned and "max_regression" not in cleaned:
            raise PolicyDocumentError(field, "give min, max or max_regression")
        if "min" in cleaned and "max" in cleaned and cleaned["min"] > cleaned["max"]:
            raise PolicyDocumentError(
                f"{field}.max", f"is below min ({fmt(cleaned['min'])}): no value could pass"
            )

    def default_title(self) -> str:
        bounds = []
        if "min" in self.p:
            bounds.append(f"{self.p['metric']} >= {fmt(self.p['min'])}")
        if "max" in self.p:
            bounds.append(f"{self.p['metric']} <= {fmt(self.p['max'])}")
        if "max_regression" in self.p:
            bounds.append(f"no worse than production by more than {fmt(self.p['max_regression'])}")
        return "; ".join(bounds)

    def evaluate(self, context: EvidenceContext) -> Verdict:
        metric = self.p["metric"]
        datasets = evidence_datasets(context.version, self.p.get("dataset"))
        if not datasets:
            return no_dataset(self._threshold())
        facts = next(iter(context.version.evidence("performance", datasets=datasets)), None)
        where = on(datasets)
        if facts is None:
            return failed(
                f"no succeeded performance assessment of this artifact{where}",
                threshold=self._threshold(),
            )
        value = facts.results.get("metrics", {}).get(metric)
        if value is None:
            reason = facts.results.get("null_reasons", {}).get(metric, "not computed")
            return failed(
                f"{metric} is not available in assessment #{facts.id}: {reason}",
                threshold=self._threshold(),
                evidence=cites(facts),
            )
        if not finite(value):
            return failed(
                f"{metric} in assessment #{facts.id} is {value!r}, not a finite number",
                threshold=self._threshold(),
                evidence=cites(facts),
            )
        observed: dict[str, Any] = {metric: value}
        problems = []
        if "min" in self.p and value < self.p["min"]:
            problems.append(f"{metric} {fmt(value)} is below the minimum {fmt(self.p['min'])}")
        if "max" in self.p and value > self.p["max"]:
            problems.append(f"{metric} {fmt(value)} is above the maximum {fmt(self.p['max'])}")
        cited = [facts]
        relative = ""
        if "max_regression" in self.p:
            baseline, message = self._baseline(context, facts)
            if baseline is None:
                if context.production is not None:
                    problems.append(message)
                relative = f"; {message}"
            else:
                base_value = baseline.results["metrics"][metric]
                regression = (
                    base_value - value if metric in HIGHER_IS_BETTER else value - base_value
                )
                observed.update(production=base_value, regression=regression)
                cited.append(baseline)
                # 0.9 - 0.89 is 0.010000000000000009 in floats: a regression that equals the
                # allowance up to rounding is within it.
                allowed = self.p["max_regression"]
                if regression > allowed and not math.isclose(regression, allowed, abs_tol=1e-12):
                    problems.append(
                        f"{metric} {fmt(value)} is {fmt(regression)} worse than production "
                        f"{context.production.ref} ({fmt(base_value)}); at most "
                        f"{fmt(self.p['max_regression'])} is allowed"
                    )
                else:
                    relative = f"; production {context.production.ref} has {fmt(base_value)}"
        evidence = cites(*cited)
        if problems:
            return failed(
                "; ".join(problems),
                observed=observed,
                threshold=self._threshold(),
                evidence=evidence,
            )
        return passed(
            f"{metric} {fmt(value)} in assessment #{facts.id} on {facts.dataset_version}{relative}",
            observed=observed,
            threshold=self._threshold(),
            evidence=evidence,
        )

    def _threshold(self) -> dict[str, Any]:
        return {k: self.p[k] for k in ("min", "max", "max_regression") if k in self.p}

    def _baseline(
        self, context: EvidenceContext, facts: AssessmentFacts
    ) -> tuple[AssessmentFacts | None, str]:
        production = context.production
        if production is None:
            return None, "no production version to compare with: only absolute bounds apply"
        if production.id == context.version.id:
            return None, "this version is the production version"
        metric = self.p["metric"]
        for candidate in production.evidence("performance", dataset_version=facts.dataset_version):
            if finite(candidate.results.get("metrics", {}).get(metric)):
                return candidate, ""
        return None, (
            f"production version {production.ref} has no performance assessment with {metric} "
            f"on {facts.dataset_version} (the candidate's dataset), so the regression cannot be "
            f"measured"
        )

"""Explainability present, with at most a given share of attribution on sensitive features."""

from typing import Any

from governance.policies.checks.base import Check, Verdict, cites, failed, finite, fmt, passed
from governance.policies.checks.performance import evidence_datasets, no_dataset, on
from governance.policies.context import EvidenceContext
from governance.policies.params import Param


class ExplainabilityPresent(Check):
    type = "explainability"
    summary = "explainability present"
    params = {
        "max_sensitive_share": Param("number", minimum=0, maximum=1),
        "features": Param(
            "str_list", help="sensitive features to sum; default: those the assessment declared"
        ),
        "require_additivity": Param("bool", default=True),
        "dataset": Param("str"),
    }

    def default_title(self) -> str:
        if "max_sensitive_share" in self.p:
            return (
                f"SHAP explanation present, at most {fmt(self.p['max_sensitive_share'] * 100)}% "
                f"of attribution on sensitive features"
            )
        return "SHAP explanation present"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        datasets = evidence_datasets(context.version, self.p.get("dataset"))
        threshold = {k: self.p[k] for k in ("max_sensitive_share",) if k in self.p}
        if not datasets:
            return no_dataset(threshold)
        facts = next(iter(context.version.evidence("explainability", datasets=datasets)), None)
        if facts is None:
            where = on(datasets)
            return failed(
                f"no succeeded explainability assessment of this artifact{where}",
                threshold=threshold,
            )
        results = facts.results
        observed: dict[str, Any] = {"method": results.get("method", {}).get("explainer")}
        additivity = results.get("additivity", {})
        if self.p["require_additivity"] and not additivity.get("within_tolerance", False):
            return failed(
                f"assessment #{facts.id}: SHAP values do not add up to the model output "
                f"(max error {fmt(additivity.get('max_abs_error'))}, tolerance "
                f"{fmt(additivity.get('tolerance'))})",
                observed=observed,
                threshold=threshold,
                evidence=cites(facts),
            )
        if "max_sensitive_share" not in self.p:
            return passed(
                f"assessment #{facts.id} explains {results.get('n_rows_explained')} rows of "
                f"{facts.dataset_version}",
                observed=observed,
                threshold=threshold,
                evidence=cites(facts),
            )
        share_info = results.get("sensitive_share", {})
        by_feature = share_info.get("by_feature", {})
        # Default: what the dataset declares sensitive (not only what the assessment was asked
        # to sum).
        features = (
            self.p.get("features")
            or list(facts.declared_features)
            or share_info.get("features", [])
        )
        if not features:
            return failed(
                f"assessment #{facts.id} declares no sensitive features, so the share on them "
                f"cannot be judged; name them in the check's features",
                observed=observed,
                threshold=threshold,
                evidence=cites(facts),
            )
        missing = [
            f for f in features if f not in by_feature and f not in share_info.get("absent", [])
        ]
        if missing:
            return failed(
                f"assessment #{facts.id} has no attribution share for {', '.join(missing)}",
                observed=observed,
                threshold=threshold,
                evidence=cites(facts),
            )
        shares = {f: by_feature.get(f, 0.0) for f in features}
        if not all(finite(v) for v in shares.values()):
            return failed(
                f"assessment #{facts.id} has an attribution share that is not a finite number: "
                f"{shares}",
                observed=observed,
                threshold=threshold,
                evidence=cites(facts),
            )
        share = sum(shares.values())
        observed.update(share=share, by_feature=shares)
        limit = self.p["max_sensitive_share"]
        message = (
            f"{fmt(share * 100)}% of attribution on {', '.join(features)} "
            f"(assessment #{facts.id}), limit {fmt(limit * 100)}%"
        )
        if share > limit:
            return failed(message, observed=observed, threshold=threshold, evidence=cites(facts))
        return passed(message, observed=observed, threshold=threshold, evidence=cites(facts))

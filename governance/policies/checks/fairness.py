"""Fairness thresholds on a fairness assessment: a disparity metric for one sensitive feature or
the intersection of several, on the point estimate or on its confidence bound."""

from typing import Any

from governance.policies.checks.base import Check, Verdict, cites, failed, finite, fmt, passed
from governance.policies.checks.performance import evidence_datasets, no_dataset, on
from governance.policies.context import AssessmentFacts, EvidenceContext
from governance.policies.errors import PolicyDocumentError
from governance.policies.params import Param

DIFFERENCES = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equal_opportunity_difference",
)
INTERSECTION = " \N{MULTIPLICATION SIGN} "
RATIOS = ("demographic_parity_ratio", "equalized_odds_ratio", "equal_opportunity_ratio")


def feature_key(facts: AssessmentFacts, features: list[str]) -> str | None:
    """The results key of one feature, or of the intersection of several (e.g. sex and race joined by a multiplication sign)."""
    disparities = facts.results.get("disparities", {})
    if len(features) == 1:
        return features[0] if features[0] in disparities else None
    intersection = facts.results.get("intersection") or {}
    if sorted(intersection.get("of", [])) == sorted(features):
        key = intersection.get("feature")
        return key if key in disparities else None
    return None


class FairnessThreshold(Check):
    type = "fairness_threshold"
    summary = "fairness disparity threshold"
    params = {
        "metric": Param("str", required=True, choices=DIFFERENCES + RATIOS),
        "features": Param(
            "str_list",
            help="one sensitive feature, or several for their intersection; default: every "
            "sensitive feature the assessment declares, each judged on its own",
        ),
        "max": Param("number", minimum=0, help="for differences"),
        "min": Param("number", minimum=0, maximum=1, help="for ratios"),
        "use_confidence_bound": Param(
            "bool",
            default=False,
            help="judge the upper confidence bound of a difference (lower bound of a ratio)",
        ),
        "min_group_size": Param(
            "int", minimum=1, help="groups smaller than this must not decide the verdict"
        ),
        "dataset": Param("str"),
    }

    @classmethod
    def validate(cls, cleaned: dict[str, Any], field: str) -> None:
        metric = cleaned["metric"]
        if metric in DIFFERENCES and "max" not in cleaned:
            raise PolicyDocumentError(f"{field}.max", f"is required for {metric}")
        if metric in RATIOS and "min" not in cleaned:
            raise PolicyDocumentError(f"{field}.min", f"is required for {metric}")
        if metric in DIFFERENCES and "min" in cleaned:
            raise PolicyDocumentError(f"{field}.min", f"does not apply to {metric}; use max")
        if metric in RATIOS and "max" in cleaned:
            raise PolicyDocumentError(f"{field}.max", f"does not apply to {metric}; use min")

    def default_title(self) -> str:
        bound = "upper bound of " if self.p["use_confidence_bound"] else ""
        op, limit = ("<=", self.p["max"]) if "max" in self.p else (">=", self.p["min"])
        subject = (
            INTERSECTION.join(self.p["features"])
            if "features" in self.p
            else "every declared sensitive feature"
        )
        return f"{bound}{self.p['metric']} for {subject} {op} {fmt(limit)}"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        datasets = evidence_datasets(context.version, self.p.get("dataset"))
        threshold = self._threshold()
        if not datasets:
            return no_dataset(threshold)
        where = on(datasets)
        candidates = list(context.version.evidence("fairness", datasets=datasets))
        if "features" in self.p:
            features = self.p["features"]
            found = next(
                ((f, feature_key(f, features)) for f in candidates if feature_key(f, features)),
                None,
            )
            if found is None:
                what = INTERSECTION.join(features)
                detail = (
                    f" ({len(candidates)} fairness assessment(s) exist but none covers {what})"
                    if candidates
                    else ""
                )
                return failed(
                    f"no succeeded fairness assessment of this artifact{where} for {what}{detail}",
                    threshold=threshold,
                )
            facts, keys = found[0], [found[1]]
        else:
            if not candidates:
                return failed(
                    f"no succeeded fairness assessment of this artifact{where}",
                    threshold=threshold,
                )
            # Every feature the dataset declares sensitive, not only those the requester chose
            # to assess: the newest assessment that covers them all is judged.
            newest = candidates[0]
            keys = list(newest.declared_features or newest.sensitive_features)
            if not keys:
                return failed(
                    f"assessment #{newest.id} covers no sensitive feature and its dataset "
                    f"declares none",
                    threshold=threshold,
                    evidence=cites(newest),
                )
            covering = (f for f in candidates if set(keys) <= set(f.results.get("disparities", {})))
            found_facts = next(covering, None)
            if found_facts is None:
                return failed(
                    f"no fairness assessment of this artifact{where} covers every declared "
                    f"sensitive feature ({', '.join(keys)}); the newest, #{newest.id}, covers "
                    f"{', '.join(newest.results.get('disparities', {})) or 'none'}",
                    threshold=threshold,
                    evidence=cites(newest),
                )
            facts = found_facts
        judged = [self._judge(facts, key) for key in keys]
        observed: dict[str, Any] = {key: obs for key, (_, _, obs) in zip(keys, judged, strict=True)}
        messages = [message for ok, message, _ in judged if not ok]
        if messages:
            return failed(
                "; ".join(messages), observed=observed, threshold=threshold, evidence=cites(facts)
            )
        return passed(
            "; ".join(message for _, message, _ in judged),
            observed=observed,
            threshold=threshold,
            evidence=cites(facts),
        )

    def _judge(self, facts: AssessmentFacts, key: str) -> tuple[bool, str, dict[str, Any]]:
        metric = self.p["metric"]
        disparity = facts.results["disparities"][key]
        point = disparity.get(metric)
        interval = disparity.get("ci", {}).get(metric)
        observed: dict[str, Any] = {"value": point, "ci": interval}
        source = f"(assessment #{facts.id} on {facts.dataset_version})"
        if point is None:
            return False, f"{metric} for {key} is undefined {source}", observed
        if not finite(point):
            return False, f"{metric} for {key} is {point!r}, not a finite number {source}", observed
        small = self._small_groups(facts, key)
        if small:
            return (
                False,
                f"assessment #{facts.id} compares groups smaller than "
                f"{self.p['min_group_size']} rows for {key} "
                f"({', '.join(f'{g}: {n}' for g, n in small)}); re-run it with "
                f"min_group_size >= {self.p['min_group_size']}",
                observed,
            )
        judged, label = point, metric
        if self.p["use_confidence_bound"]:
            if not interval:
                return False, f"no confidence interval for {metric} on {key} {source}", observed
            is_difference = metric in DIFFERENCES
            judged = interval[1] if is_difference else interval[0]
            label = f"{'upper' if is_difference else 'lower'} confidence bound of {metric}"
            if not finite(judged):
                return False, f"{label} for {key} is {judged!r} {source}", observed
        observed["judged"] = judged
        if "max" in self.p and judged > self.p["max"]:
            return (
                False,
                f"{label} for {key} is {fmt(judged)}, above the maximum {fmt(self.p['max'])} "
                f"{source}",
                observed,
            )
        if "min" in self.p and judged < self.p["min"]:
            return (
                False,
                f"{label} for {key} is {fmt(judged)}, below the minimum {fmt(self.p['min'])} "
                f"{source}",
                observed,
            )
        return True, f"{label} for {key} is {fmt(judged)} {source}", observed

    def _threshold(self) -> dict[str, Any]:
        keys = ("max", "min", "use_confidence_bound", "min_group_size")
        return {k: self.p[k] for k in keys if k in self.p}

    def _small_groups(self, facts: AssessmentFacts, key: str) -> list[tuple[str, int]]:
        minimum = self.p.get("min_group_size")
        if minimum is None:
            return []
        compared = facts.results["disparities"][key].get("groups_compared", [])
        groups = facts.results.get("by_feature", {}).get(key, {})
        return [
            (name, groups[name]["count"])
            for name in compared
            if name in groups and groups[name].get("count", 0) < minimum
        ]

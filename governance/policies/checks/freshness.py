"""Evidence freshness: assessments on this exact artifact, on a version of the declared
evaluation dataset, finished within N days."""

from datetime import timedelta

from governance.policies.checks.base import Check, Verdict, cites, failed, passed
from governance.policies.context import EvidenceContext
from governance.policies.params import Param

KINDS = ("performance", "fairness", "explainability")


class EvidenceFreshness(Check):
    type = "evidence_freshness"
    summary = "evidence fresh"
    params = {
        "max_age_days": Param("int", required=True, minimum=1),
        "kinds": Param("str_list", default=list(KINDS), choices=KINDS),
        "dataset": Param(
            "str", help="dataset name; default: the version's declared evaluation dataset"
        ),
    }

    def default_title(self) -> str:
        return (
            f"{', '.join(self.p['kinds'])} assessed on this artifact within "
            f"{self.p['max_age_days']} days"
        )

    def evaluate(self, context: EvidenceContext) -> Verdict:
        version = context.version
        datasets = (self.p["dataset"],) if "dataset" in self.p else version.evaluation_dataset_names
        threshold = {"max_age_days": self.p["max_age_days"], "kinds": self.p["kinds"]}
        if not datasets:
            return failed(
                "the version declares no evaluation dataset (evaluation_dataset) and the check "
                "names none, so there is no declared data to be fresh on",
                threshold=threshold,
            )
        oldest_allowed = context.now - timedelta(days=self.p["max_age_days"])
        cited, problems, ages = [], [], {}
        for kind in self.p["kinds"]:
            newest = next(
                (facts for facts in version.evidence(kind) if facts.dataset in datasets),
                None,
            )
            if newest is None:
                problems.append(f"no {kind} assessment of this artifact on {' or '.join(datasets)}")
                continue
            age_days = (context.now - newest.finished_at).total_seconds() / 86400
            ages[kind] = round(age_days, 2)
            cited.append(newest)
            if newest.finished_at < oldest_allowed:
                problems.append(
                    f"the newest {kind} assessment (#{newest.id}) is {age_days:.0f} days old"
                )
        observed = {"age_days": ages, "datasets": list(datasets)}
        if problems:
            return failed(
                "; ".join(problems), observed=observed, threshold=threshold, evidence=cites(*cited)
            )
        return passed(
            f"{', '.join(self.p['kinds'])} assessed on this artifact within "
            f"{self.p['max_age_days']} days",
            observed=observed,
            threshold=threshold,
            evidence=cites(*cited),
        )

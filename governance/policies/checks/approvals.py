"""Approvals by role and count, and how long an approval stays valid."""

from collections import Counter
from datetime import timedelta

from governance.policies.checks.base import Check, Verdict, failed, passed
from governance.policies.context import EvidenceContext
from governance.policies.params import Param


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {role}{'s' if n > 1 else ''}" for role, n in counts.items())


class Approvals(Check):
    type = "approvals"
    summary = "approvals"
    params = {"roles": Param("role_counts", required=True)}

    def default_title(self) -> str:
        return f"approved by {describe(self.p['roles'])}"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        required = self.p["roles"]
        threshold = {"roles": required}
        if context.request is None:
            return failed(
                f"no promotion request yet: needs approval by {describe(required)}",
                observed={"approvals": {}},
                threshold=threshold,
            )
        given = Counter(a.role for a in context.request.approvals)
        missing = {role: n - given[role] for role, n in required.items() if given[role] < n}
        observed = {
            "approvals": dict(given),
            "reviewers": [f"{a.reviewer} ({a.role})" for a in context.request.approvals],
        }
        evidence = {"promotion_request": context.request.id}
        if missing:
            return failed(
                f"waiting for approval by {describe(missing)}",
                observed=observed,
                threshold=threshold,
                evidence=evidence,
            )
        return passed(
            f"approved by {', '.join(observed['reviewers'])}",
            observed=observed,
            threshold=threshold,
            evidence=evidence,
        )


class ApprovalValidity(Check):
    type = "approval_validity"
    summary = "approval validity"
    params = {"days": Param("int", required=True, minimum=1)}

    def default_title(self) -> str:
        return f"approvals at most {self.p['days']} days old"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        threshold = {"days": self.p["days"]}
        if context.request is None or not context.request.approvals:
            return passed(
                "no approval given yet, so none has expired",
                threshold=threshold,
                observed={"expired": []},
            )
        oldest_allowed = context.now - timedelta(days=self.p["days"])
        expired = [a for a in context.request.approvals if a.created_at < oldest_allowed]
        observed = {
            "expired": [f"{a.reviewer} ({a.role}) on {a.created_at.date()}" for a in expired]
        }
        evidence = {"promotion_request": context.request.id}
        if expired:
            return failed(
                f"approval expired after {self.p['days']} days: {', '.join(observed['expired'])}; "
                f"re-review is due (withdraw and request again)",
                observed=observed,
                threshold=threshold,
                evidence=evidence,
            )
        return passed(
            f"every approval is at most {self.p['days']} days old",
            observed=observed,
            threshold=threshold,
            evidence=evidence,
        )

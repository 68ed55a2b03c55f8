"""Validation findings: unresolved findings at or above a severity block the gate."""

from governance.policies.checks.base import Check, Verdict, failed, passed
from governance.policies.context import EvidenceContext
from governance.policies.params import Param

SEVERITIES = ("low", "medium", "high")


class NoOpenFindings(Check):
    type = "no_open_findings"
    summary = "no open findings"
    params = {
        "min_severity": Param(
            "str",
            default="high",
            choices=SEVERITIES,
            help="findings of this severity or above block until they are closed",
        ),
    }

    def default_title(self) -> str:
        severity = self.p["min_severity"]
        scope = "high-severity" if severity == "high" else f"{severity}-or-higher severity"
        return f"no open {scope} validation findings"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        blocking_levels = SEVERITIES[SEVERITIES.index(self.p["min_severity"]) :]
        unresolved = context.version.findings
        counts = {level: sum(1 for f in unresolved if f.severity == level) for level in SEVERITIES}
        blocking = [f for f in unresolved if f.severity in blocking_levels]
        observed = {
            "unresolved": counts,
            "blocking": [
                {"id": f.id, "title": f.title, "severity": f.severity, "status": f.status}
                for f in blocking
            ],
        }
        threshold = {"min_severity": self.p["min_severity"]}
        evidence = {"findings": [f.id for f in blocking]}
        if blocking:
            listed = "; ".join(f"#{f.id} {f.title} ({f.severity}, {f.status})" for f in blocking)
            return failed(
                f"{len(blocking)} unresolved finding{'s' if len(blocking) != 1 else ''} of "
                f"severity {self.p['min_severity']} or above: {listed}",
                observed=observed,
                threshold=threshold,
                evidence=evidence,
            )
        total = sum(counts.values())
        return passed(
            f"no unresolved finding of severity {self.p['min_severity']} or above"
            + (
                f" ({total} lower-severity finding{'s' if total != 1 else ''} unresolved)"
                if total
                else ""
            ),
            observed=observed,
            threshold=threshold,
            evidence=evidence,
        )

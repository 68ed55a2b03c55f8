"""Regulatory coverage: which clauses of which frameworks a version's evidence speaks to.

Read from stored check results only (the dossier computes nothing new): a clause is
- evidenced when a check that passed is tagged with it,
- failing when the checks tagged with it all failed,
- missing when no evaluated check is tagged with it.

Frameworks are those the evaluated policies tag at least once; each lists every clause of its
catalogue (governance.policies.clauses), so what no policy covers shows as missing, and the
coverage is the share of the catalogue's clauses that are evidenced.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from governance.models import CheckResult, EvaluationPurpose, PolicyEvaluation
from governance.policies.clauses import BY_KEY, FRAMEWORKS

EVIDENCED, FAILING, MISSING = "evidenced", "failing", "missing"


@dataclass(frozen=True)
class CheckRef:
    evaluation_id: int
    policy: str  # "high-risk v2"
    check_id: str
    title: str
    passed: bool


@dataclass(frozen=True)
class ClauseCoverage:
    tag: str  # "eu-ai-act:art-10"
    title: str
    checks: tuple[CheckRef, ...]

    @property
    def status(self) -> str:
        if any(c.passed for c in self.checks):
            return EVIDENCED
        return FAILING if self.checks else MISSING


@dataclass(frozen=True)
class FrameworkCoverage:
    key: str
    title: str
    clauses: tuple[ClauseCoverage, ...]

    @property
    def evidenced(self) -> int:
        return sum(1 for c in self.clauses if c.status == EVIDENCED)

    @property
    def percent(self) -> float:
        return 100.0 * self.evidenced / len(self.clauses) if self.clauses else 0.0


def of_checks(checks: Iterable[CheckResult]) -> tuple[FrameworkCoverage, ...]:
    """Coverage from these check results (their policy versions loaded), frameworks in the
    catalogue's order."""
    by_tag: dict[str, list[CheckRef]] = {}
    for check in checks:
        ref = CheckRef(
            evaluation_id=check.evaluation_id,
            policy=str(check.policy_version),
            check_id=check.check_id,
            title=check.title,
            passed=check.passed,
        )
        for tag in check.clauses or ():
            by_tag.setdefault(tag, []).append(ref)
    tagged = {tag.split(":", 1)[0] for tag in by_tag}
    return tuple(
        FrameworkCoverage(
            key=framework.key,
            title=framework.title,
            clauses=tuple(
                ClauseCoverage(
                    tag=f"{framework.key}:{clause}",
                    title=title,
                    checks=tuple(by_tag.get(f"{framework.key}:{clause}", ())),
                )
                for clause, title in framework.clauses.items()
            ),
        )
        for framework in FRAMEWORKS
        if framework.key in tagged and framework.key in BY_KEY
    )


def deciding_evaluation(version_id: int) -> PolicyEvaluation | None:
    """The evaluation that speaks for a version: the one inside its latest promotion, else its
    latest evaluation of any purpose."""
    evaluations = PolicyEvaluation.objects.filter(model_version_id=version_id).order_by(
        "-created_at", "-id"
    )
    return evaluations.filter(purpose=EvaluationPurpose.PROMOTION).first() or evaluations.first()


def of_version(version_id: int) -> tuple[FrameworkCoverage, ...]:
    """Coverage of a version from its deciding evaluation (none: nothing is evidenced, and no
    framework is listed). Two queries."""
    evaluation = deciding_evaluation(version_id)
    if evaluation is None:
        return ()
    checks = (
        CheckResult.objects.filter(evaluation=evaluation)
        .select_related("policy_version__policy")
        .order_by("position")
    )
    return of_checks(checks)

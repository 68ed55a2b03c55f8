"""Evaluating the applicable policies for a version and a target stage.

Used for dry-runs (any time: "what would block this version from production?"), when a
promotion request opens, and as the gate inside every promotion. The gate fails closed: no
applicable policy, an unknown check type, a missing assessment or a check that raises are all
failing verdicts with their reason.
"""

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import trail
from core import roles
from core.errors import Forbidden, InvalidInput
from governance.models import (
    CheckResult,
    EvaluationPurpose,
    PolicyEvaluation,
    PolicyVersion,
    PromotionRequest,
    TargetStage,
)
from governance.policies.checks import REGISTRY, Verdict
from governance.policies.context import EvidenceContext
from governance.services import evidence, policies
from registry.models import ModelVersion

logger = logging.getLogger(__name__)


def can_evaluate(user: Any, version: ModelVersion) -> bool:
    if not user.is_authenticated:
        return False
    granted = roles.roles_of(user)
    if roles.ADMIN in granted or roles.VALIDATOR in granted or roles.RISK_OFFICER in granted:
        return True
    if roles.DATA_SCIENTIST in granted:
        return version.model.owner_team.has_member(user)
    return False


@dataclass(frozen=True)
class Outcome:
    policy_version: PolicyVersion | None
    check: dict[str, Any]
    verdict: Verdict


def run_check(spec: dict[str, Any], context: EvidenceContext) -> Verdict:
    """One check's verdict; anything that goes wrong is a failing verdict, never a pass."""
    cls = REGISTRY.get(spec.get("type", ""))
    if cls is None:
        return Verdict(
            False,
            f"unknown check type {spec.get('type')!r}: this ModelGate cannot evaluate it, so "
            f"the gate stays closed",
        )
    try:
        verdict = cls(spec.get("params", {})).evaluate(context)
    except Exception as exc:
        logger.exception("check %s (%s) raised", spec.get("id"), spec.get("type"))
        return Verdict(False, f"the check raised {type(exc).__name__}: {exc}; failing closed")
    if not isinstance(verdict, Verdict):
        return Verdict(False, f"the check returned {type(verdict).__name__}, not a verdict")
    return verdict


def outcomes(context: EvidenceContext, applicable: list[PolicyVersion]) -> list[Outcome]:
    if not applicable:
        return [
            Outcome(
                None,
                {
                    "id": "policy-coverage",
                    "type": "policy_coverage",
                    "title": "at least one policy applies",
                    "clauses": [],
                },
                Verdict(
                    False,
                    f"no enabled policy covers risk tier {context.risk_tier!r} and target stage "
                    f"{context.target_stage!r}: without a policy nothing can be promoted",
                    observed={"risk_tier": context.risk_tier, "target_stage": context.target_stage},
                ),
            )
        ]
    results = []
    for version in applicable:
        if not version.checks:
            # Only a document stored without validation can have no checks; it proves nothing.
            results.append(
                Outcome(
                    version,
                    {
                        "id": "policy-checks",
                        "type": "policy_checks",
                        "title": "the policy has checks",
                    },
                    Verdict(
                        False, f"{version} has no checks: a policy that checks nothing cannot pass"
                    ),
                )
            )
        for index, spec in enumerate(version.checks):
            if not isinstance(spec, dict):  # only a document that bypassed validation
                spec = {"id": f"check-{index}", "type": f"malformed ({type(spec).__name__})"}
            results.append(Outcome(version, spec, run_check(spec, context)))
    return results


@dataclass(frozen=True)
class Prepared:
    """An evaluation computed but not yet stored: what `store` writes."""

    version: ModelVersion
    target_stage: str
    by: Any
    purpose: str
    request: PromotionRequest | None
    context: EvidenceContext
    applicable: list[PolicyVersion]
    results: list[Outcome]


def prepare(
    version: ModelVersion,
    target_stage: str,
    *,
    by: Any,
    purpose: str = EvaluationPurpose.DRY_RUN,
    request: PromotionRequest | None = None,
    check_permission: bool = True,
) -> Prepared:
    """Read the evidence and run every check, writing nothing.

    Callers inside a transaction that also writes audit events prepare first and store last:
    the audit chain is one lock held from a transaction's first event to its commit, so the
    reading and checking stay outside it."""
    if target_stage not in TargetStage.values:
        raise InvalidInput(
            f"target_stage must be one of {', '.join(TargetStage.values)}", field="target_stage"
        )
    if check_permission and not can_evaluate(by, version):
        raise Forbidden(
            f"only data scientists of team {version.model.owner_team.name!r}, validators, risk "
            f"officers and admins can evaluate {version}"
        )
    applicable = policies.applicable(version.model.risk_tier, target_stage)
    context = evidence.build(version, target_stage, now=timezone.now(), request=request)
    return Prepared(
        version, target_stage, by, purpose, request, context, applicable,
        outcomes(context, applicable),
    )  # fmt: skip


def store(prepared: Prepared) -> PolicyEvaluation:
    """Write a prepared evaluation (immutable) and its audit event, in the caller's transaction
    or a new one."""
    with transaction.atomic():
        return _store(
            prepared.version,
            prepared.target_stage,
            prepared.by,
            prepared.purpose,
            prepared.request,
            prepared.context,
            prepared.applicable,
            prepared.results,
        )


def evaluate(
    version: ModelVersion,
    target_stage: str,
    *,
    by: Any,
    purpose: str = EvaluationPurpose.DRY_RUN,
    request: PromotionRequest | None = None,
    check_permission: bool = True,
) -> PolicyEvaluation:
    """Evaluate and store the result (immutable), with an audit event, in one transaction."""
    if check_permission and not can_evaluate(by, version):
        refusal = Forbidden(
            f"only data scientists of team {version.model.owner_team.name!r}, validators, risk "
            f"officers and admins can evaluate {version}"
        )
        with transaction.atomic():
            trail.record(
                version,
                "policy.evaluation_refused",
                by=by if getattr(by, "pk", None) else None,
                data={"target_stage": target_stage, "code": refusal.code, "reason": refusal.detail},
            )
        raise refusal
    with transaction.atomic():
        return store(
            prepare(
                version,
                target_stage,
                by=by,
                purpose=purpose,
                request=request,
                check_permission=check_permission,
            )
        )


def _store(
    version: ModelVersion,
    target_stage: str,
    by: Any,
    purpose: str,
    request: PromotionRequest | None,
    context: EvidenceContext,
    applicable: list[PolicyVersion],
    results: list[Outcome],
) -> PolicyEvaluation:
    failed = [o for o in results if not o.verdict.passed]
    cited = sorted({i for o in results for i in o.verdict.evidence.get("assessments", [])})
    evaluation = PolicyEvaluation.objects.create(
        model_version=version,
        target_stage=target_stage,
        purpose=purpose,
        promotion_request=request,
        passed=not failed,
        artifact_sha256=context.version.artifact_sha256,
        risk_tier=context.risk_tier,
        baseline_version_id=context.production.id if context.production else None,
        check_count=len(results),
        failed_count=len(failed),
        evaluated_by=by if getattr(by, "pk", None) else None,
    )
    evaluation.policy_versions.set(applicable)
    evaluation.assessments.set(cited)
    CheckResult.objects.bulk_create(
        CheckResult(
            evaluation=evaluation,
            policy_version=o.policy_version,
            position=position,
            # .get and slices: a stored document that bypassed validation still gets a row.
            check_id=str(o.check.get("id") or f"check-{position}")[:100],
            check_type=str(o.check.get("type") or "")[:60],
            title=str(o.check.get("title") or "")[:300],
            passed=o.verdict.passed,
            reason=o.verdict.reason,
            observed=_json(o.verdict.observed),
            threshold=_json(o.verdict.threshold),
            evidence=_json(o.verdict.evidence) or {},
            clauses=list(o.check.get("clauses", [])),
        )
        for position, o in enumerate(results)
    )
    trail.record(
        evaluation,
        "policy.evaluated",
        by=by,
        data={
            "model_version": str(version),
            "target_stage": target_stage,
            "purpose": purpose,
            "promotion_request": request.pk if request else None,
            "passed": evaluation.passed,
            "artifact_sha256": evaluation.artifact_sha256,
            "policy_versions": [f"{v} ({v.sha256[:12]})" for v in applicable],
            "assessments": cited,
            "failed_checks": [
                f"{o.policy_version.policy.name if o.policy_version else 'gate'}/"
                f"{o.check.get('id') or '?'}"
                for o in failed
            ],
        },
    )
    return evaluation


def _json(value: Any) -> Any:
    """Verdict payloads through the canonical JSON form (no NaN, no numpy scalars)."""
    from governance.assessments import results_json

    if value is None:
        return None
    return results_json.loads(results_json.dumps(value))


def blocking_reasons(evaluation: PolicyEvaluation) -> list[dict[str, Any]]:
    return [
        {
            "policy": c.policy_version.policy.name if c.policy_version else None,
            "check": c.check_id,
            "type": c.check_type,
            "title": c.title,
            "reason": c.reason,
        }
        for c in evaluation.checks.select_related("policy_version__policy").filter(passed=False)
    ]

"""Shared by the policy and promotion commands: what their arguments name, and how a request or
an evaluation reads on a terminal. Lookups raise the services' NotFound, which ActorCommand turns
into an error message and a non-zero exit."""

import json
from typing import Any

from django.core.management.base import CommandParser

from core.errors import NotFound
from governance.models import PolicyEvaluation, PromotionRequest, PromotionStatus
from governance.policies.checks.approvals import describe
from registry import refs
from registry.models import ModelVersion, RegisteredModel


def add_version_arguments(parser: CommandParser) -> None:
    parser.add_argument("model", help="registered model name")
    parser.add_argument("version", type=int, help="model version number")


def add_request_argument(parser: CommandParser) -> None:
    parser.add_argument("request", type=int, metavar="REQUEST_ID", help="promotion request id")


def model(name: str) -> RegisteredModel:
    found = RegisteredModel.objects.select_related("owner_team").filter(name=name).first()
    if found is None:
        raise NotFound(f"no model named {name!r}")
    return found


def model_version(options: dict[str, Any]) -> ModelVersion:
    return refs.get_model_version(options["model"], options["version"])


def promotion_request(pk: int) -> PromotionRequest:
    found = (
        PromotionRequest.objects.select_related("model_version__model", "requested_by")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise NotFound(f"no promotion request #{pk}")
    return found


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def check_lines(evaluation: PolicyEvaluation, *, details: bool = True) -> list[str]:
    """One line per check, in the gate's order: verdict, policy/check, type and reason; for a
    failing check, what was observed against what the policy asks."""
    lines = []
    checks = evaluation.checks.select_related("policy_version__policy").order_by("position")
    for check in checks:
        policy = check.policy_version.policy.name if check.policy_version else "gate"
        verdict = "PASS" if check.passed else "FAIL"
        lines.append(f"  {verdict}  {policy}/{check.check_id} ({check.check_type}): {check.reason}")
        if details and not check.passed:
            if check.observed is not None:
                lines.append(f"        observed:  {_compact(check.observed)}")
            if check.threshold is not None:
                lines.append(f"        threshold: {_compact(check.threshold)}")
    return lines


def evaluation_summary(evaluation: PolicyEvaluation) -> str:
    verdict = (
        "PASSED: every check passes"
        if evaluation.passed
        else f"BLOCKED: {evaluation.failed_count} of {evaluation.check_count} checks fail"
    )
    return (
        f"evaluation #{evaluation.pk} of {evaluation.model_version} for "
        f"{evaluation.target_stage} ({evaluation.get_purpose_display().lower()}): {verdict}"
    )


def request_lines(request: PromotionRequest) -> list[str]:
    """Where a request stands: status, approvals, and what blocks it."""
    request.refresh_from_db()
    approvals = list(
        request.reviews.filter(decision="approve")
        .select_related("reviewer")
        .order_by("created_at", "id")
    )
    given = ", ".join(f"{r.reviewer.get_username()} ({r.role})" for r in approvals) or "none yet"
    lines = [
        f"request #{request.pk}: {request.model_version} {request.from_stage} -> "
        f"{request.target_stage}{' (rollback)' if request.is_rollback else ''}, "
        f"status {request.status}",
        f"required approvals: {describe(request.required_approvals)}; given: {given}",
    ]
    if request.status_reason:
        lines.append(f"status reason: {request.status_reason}")
    if request.status == PromotionStatus.APPROVED and request.blocking:
        lines.append("blocked by:")
        lines.extend(
            f"  {b.get('policy') or 'gate'}/{b.get('check')}: {b.get('reason')}"
            for b in request.blocking
        )
    if request.status == PromotionStatus.COMPLETED:
        request.model_version.refresh_from_db(fields=["stage"])
        lines.append(f"{request.model_version} is now in {request.model_version.stage}")
    return lines

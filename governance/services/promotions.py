"""Promotion requests, reviews and stage changes: the only way a version changes stage.

Rules (each enforced here; the database backs the hard ones up):
- a data scientist of the owning team (or an admin) opens a request for staging or production;
  the applicable policies, their required approvals and the artifact digest are pinned;
- reviewers with a role the policies require approve or reject, with a comment; the requester
  and the version's registrant cannot review; one review per person; a person with two roles
  counts once (each approval is counted for one role);
- when the last required approval arrives the gate re-evaluates inside the same transaction
  and, if every check passes, promotes; the previous production version is archived in that
  transaction; otherwise the request stays `approved` with the blocking reasons;
- a change to the artifact, the applicable policies or (after approvals were given) the
  evidence makes an open request stale;
- every step, refused attempts included, writes an audit event.

Every mutation takes the model's promotion lock first (a transaction-level advisory lock on
PostgreSQL, the database write lock on SQLite), then the request row: concurrent reviews and
promotions of one model serialise instead of failing.
"""

from collections import Counter
from collections.abc import Mapping
from typing import Any, NoReturn

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from audit import trail
from audit.models import AuditEvent
from core import locks, roles
from core.errors import Conflict, Forbidden, InvalidInput, ModelGateError
from governance.models import (
    ACTIVE_REQUEST,
    EvaluationPurpose,
    PolicyEvaluation,
    PolicyVersion,
    PromotionRequest,
    PromotionStatus,
    Review,
    ReviewDecision,
    StageChange,
    StageChangeKind,
    TargetStage,
)
from governance.policies.checks.approvals import describe
from governance.services import evaluation as gate
from governance.services import policies, stages
from registry.models import ModelVersion, RegisteredModel, Stage
from registry.validation import is_violation_of

REVIEWING_ROLES = (roles.VALIDATOR, roles.RISK_OFFICER, roles.DATA_SCIENTIST, roles.ADMIN)
DEFAULT_APPROVALS = {roles.VALIDATOR: 1}


def lock_model(model_id: int) -> None:
    locks.serialize(f"governance.promotion.model.{model_id}")


def _notify(event: str, request: PromotionRequest, audit_event: AuditEvent) -> None:
    """E-mails and webhooks once the transaction commits, about the audit event that records
    the step (its actor and time, as the trail has them)."""
    from governance.notifications import dispatch

    request_id, audit_event_id = request.pk, audit_event.pk
    transaction.on_commit(
        lambda: dispatch.promotion_event(event, request_id, audit_event_id=audit_event_id)
    )


# --- opening -------------------------------------------------------------------------------


def can_request(user: Any, model: RegisteredModel) -> bool:
    if not user.is_authenticated:
        return False
    if roles.is_admin(user):
        return True
    return roles.has_role(user, roles.DATA_SCIENTIST) and model.owner_team.has_member(user)


def requirements(applicable: list[PolicyVersion]) -> tuple[dict[str, int], int | None]:
    """Approvals by role (the largest count any policy asks) and the shortest validity."""
    required: dict[str, int] = {}
    validity: list[int] = []
    for version in applicable:
        for check in version.checks:
            if check["type"] == "approvals":
                for role, count in check["params"]["roles"].items():
                    required[role] = max(required.get(role, 0), count)
            elif check["type"] == "approval_validity":
                validity.append(check["params"]["days"])
    ordered = {role: required[role] for role in REVIEWING_ROLES if role in required}
    return ordered or dict(DEFAULT_APPROVALS), min(validity) if validity else None


def open_request(
    *,
    by: Any,
    version: ModelVersion,
    target_stage: str,
    justification: str,
    is_rollback: bool = False,
) -> PromotionRequest:
    """Open a request and run the policies once for it (the reviewers' first look).

    Refused: the actor is not a data scientist of the owning team or an admin (403); an unknown
    target stage or an empty justification (400); the version already in that stage, or an open
    request for it already (409). With no policy requiring approvals, one validator must approve.
    """
    if target_stage not in TargetStage.values:
        raise InvalidInput(
            f"target_stage must be one of {', '.join(TargetStage.values)}", field="target_stage"
        )
    justification = (justification or "").strip()
    if not justification:
        raise InvalidInput("a justification is required", field="justification")
    model = version.model
    if not can_request(by, model):
        _refused(
            version,
            "promotion.request_refused",
            by,
            Forbidden(
                f"only data scientists of team {model.owner_team.name!r} or admins can request "
                f"promotion of {version}"
            ),
            {"target_stage": target_stage},
        )
    try:
        with transaction.atomic():
            lock_model(model.pk)
            version = ModelVersion.objects.select_related("model__owner_team").get(pk=version.pk)
            if version.stage == target_stage:
                raise Conflict(f"{version} is already in {target_stage}", code="already_in_stage")
            if PromotionRequest.objects.filter(
                model_version=version, status__in=ACTIVE_REQUEST
            ).exists():
                raise _duplicate(version)
            applicable = policies.applicable(version.model.risk_tier, target_stage)
            required, validity = requirements(applicable)
            request = PromotionRequest.objects.create(
                model=version.model,
                model_version=version,
                target_stage=target_stage,
                from_stage=version.stage,
                justification=justification,
                artifact_sha256=version.artifact_sha256,
                risk_tier=version.model.risk_tier,
                required_approvals=required,
                approval_validity_days=validity,
                is_rollback=is_rollback,
                requested_by=by,
            )
            request.policy_versions.set(applicable)
            # Checks run before the first audit event: the chain's lock is held from there on.
            prepared = gate.prepare(
                version,
                target_stage,
                by=by,
                purpose=EvaluationPurpose.REQUEST,
                request=request,
                check_permission=False,
            )
            announced = trail.record(
                request,
                "promotion.requested",
                by=by,
                data={
                    "model_version": str(version),
                    "from_stage": version.stage,
                    "target_stage": target_stage,
                    "justification": justification,
                    "artifact_sha256": version.artifact_sha256,
                    "required_approvals": required,
                    "policy_versions": [str(v) for v in applicable],
                    "rollback": is_rollback,
                },
            )
            gate.store(prepared)
            _notify("promotion.requested", request, announced)
    except IntegrityError as exc:
        if is_violation_of(exc, "one_active_request_per_version"):
            _refused(
                version,
                "promotion.request_refused",
                by,
                _duplicate(version),
                {"target_stage": target_stage},
            )
        raise
    except Conflict as refusal:  # raised before anything was written; recorded on its own
        _refused(version, "promotion.request_refused", by, refusal, {"target_stage": target_stage})
    return request


def _duplicate(version: ModelVersion) -> Conflict:
    return Conflict(
        f"{version} already has an open promotion request; withdraw it or wait for its decision",
        code="duplicate_request",
    )


# --- reviewing -----------------------------------------------------------------------------


def review_refusal(
    user: Any, request: PromotionRequest, decision: str | None = None
) -> ModelGateError | None:
    """Why `user` may not review `request` now (None: they may). The web inbox and the API
    ask this same question."""
    if not user.is_authenticated:
        return Forbidden("sign in to review", code="not_authenticated")
    if request.requested_by_id == user.pk:
        return Forbidden(
            "separation of duties: you made this request, so you cannot review it",
            code="self_review",
        )
    if request.model_version.created_by_id == user.pk:
        return Forbidden(
            f"separation of duties: you registered {request.model_version}, so you cannot review "
            f"its promotion",
            code="self_review",
        )
    if roles.has_role(user, roles.AUDITOR) and not _eligible_roles(user, request):
        return Forbidden("auditors read requests but do not review them", code="not_a_reviewer")
    if not _eligible_roles(user, request):
        return Forbidden(
            f"this request needs approval by {describe(request.required_approvals)}; you hold "
            f"none of those roles",
            code="not_a_reviewer",
        )
    if Review.objects.filter(request=request, reviewer=user).exists():
        return Conflict("you have already reviewed this request", code="already_reviewed")
    if request.status == PromotionStatus.APPROVED and decision != ReviewDecision.REJECT:
        return Conflict(
            "every required approval is in; the request waits for its blocking checks "
            "(a reviewer may still reject it)",
            code="approvals_complete",
        )
    if request.status not in ACTIVE_REQUEST:
        return Conflict(f"the request is {request.status}, not open", code="request_not_open")
    if decision == ReviewDecision.APPROVE:
        missing = _missing(request)
        if _role_for(user, request, missing) is None:
            plural = "s" if len(_eligible_roles(user, request)) > 1 else ""
            return Conflict(
                f"the approvals of your role{plural} are complete; the request waits for "
                f"{describe(missing)}",
                code="role_complete",
            )
    return None


def reviewable(user: Any) -> Q:
    """Requests `user` may review now, as one SQL condition: open, not made by them, not of a
    version they registered, asking for a role they hold, and not reviewed by them yet.

    The same answer as `promotions.review_refusal(user, request) is None` for every request
    (tests/governance/test_api_promotions.py compares the two), for a whole page: the
    inbox and the API filter ask this."""
    held = sorted(roles.roles_of(user) & set(REVIEWING_ROLES)) if user.is_authenticated else []
    if not held:
        return Q(pk__in=[])
    already = Review.objects.filter(request=OuterRef("pk"), reviewer_id=user.pk)
    return (
        Q(status=PromotionStatus.OPEN, required_approvals__has_any_keys=held)
        & ~Q(requested_by_id=user.pk)
        & ~Q(model_version__created_by_id=user.pk)
        & ~Exists(already)
    )


def _eligible_roles(user: Any, request: PromotionRequest) -> list[str]:
    held = roles.roles_of(user)
    return [role for role in request.required_approvals if role in held]


def missing_of(required: dict[str, int], given: Mapping[str, int]) -> dict[str, int]:
    """Approvals still missing by role: `required` less the approvals `given` by role. Pages
    and serializers that have the reviews loaded ask this rather than `_missing`."""
    return {
        role: count - given.get(role, 0)
        for role, count in required.items()
        if given.get(role, 0) < count
    }


def _missing(request: PromotionRequest) -> dict[str, int]:
    given = Counter(
        Review.objects.filter(request=request, decision=ReviewDecision.APPROVE).values_list(
            "role", flat=True
        )
    )
    return missing_of(request.required_approvals, given)


def _role_for(
    user: Any, request: PromotionRequest, missing: dict[str, int] | None = None
) -> str | None:
    """The still-needed role this person's approval counts for (one, whatever they hold)."""
    missing = _missing(request) if missing is None else missing
    eligible = [role for role in _eligible_roles(user, request) if role in missing]
    if not eligible:
        return None
    if len(eligible) == 1:
        return eligible[0]
    # Someone holding several needed roles fills the one with the most approvals missing, and
    # on a tie the one fewer people hold, so the request does not end up waiting for a scarce
    # role that this person could have filled.
    holders = dict(
        Group.objects.filter(name__in=eligible).annotate(n=Count("user")).values_list("name", "n")
    )
    order = list(request.required_approvals)
    return max(
        eligible, key=lambda role: (missing[role], -holders.get(role, 0), -order.index(role))
    )


def review(*, by: Any, request: PromotionRequest, decision: str, comment: str) -> PromotionRequest:
    """Record one approval or rejection; the last required approval runs the gate.

    Refusals (403 separation of duties or role, 409 state) change nothing but the audit trail,
    which records the refused attempt.
    """
    if decision not in ReviewDecision.values:
        raise InvalidInput(
            f"decision must be one of {', '.join(ReviewDecision.values)}", field="decision"
        )
    comment = (comment or "").strip() if isinstance(comment, str) else ""
    refusal: ModelGateError | None = None
    try:
        with transaction.atomic():
            lock_model(request.model_id)
            request = _locked(request.pk)
            # Who may not review at all learns that first, and cannot close the request as
            # stale; everyone else sees a stale request as stale.
            refusal = review_refusal(by, request, decision)
            if not isinstance(refusal, Forbidden):
                refusal = _stale_check(request, by) or refusal
            if refusal is not None:
                _record_refusal(request, by, refusal, {"decision": decision})
            elif not comment:
                # Checked after the refusals, so that someone who may not review learns that
                # first (and the attempt is recorded); nothing has been written yet.
                raise InvalidInput("a comment is required with every decision", field="comment")
            else:
                _apply_review(request, by, decision, comment)
    except IntegrityError as exc:
        # The database's own guards (one review per person, separation of duties) caught what
        # a concurrent change slipped past the checks above.
        if is_violation_of(exc, "one_review_per_person"):
            refusal = Conflict("you have already reviewed this request", code="already_reviewed")
        elif "separation of duties" not in str(exc):
            raise
        else:
            refusal = Forbidden(
                "separation of duties: the requester and the version's registrant cannot review",
                code="self_review",
            )
        with transaction.atomic():
            _record_refusal(request, by, refusal, {"decision": decision})
    if refusal is not None:
        raise refusal
    return PromotionRequest.objects.get(pk=request.pk)


def _apply_review(request: PromotionRequest, by: Any, decision: str, comment: str) -> None:
    missing: dict[str, int] = {}
    if decision == ReviewDecision.APPROVE:
        missing = _missing(request)
        role = _role_for(by, request, missing)
        # What is still missing once this approval counts: no second query for it.
        missing = {r: n - (r == role) for r, n in missing.items() if n - (r == role) > 0}
    else:
        role = _eligible_roles(by, request)[0]
    review_row = Review.objects.create(
        request=request, reviewer=by, decision=decision, role=role, comment=comment
    )
    # The last approval runs the gate: read and check before the first audit event, which
    # takes the chain's lock until commit.
    prepared = (
        _prepare_gate(request, by) if decision == ReviewDecision.APPROVE and not missing else None
    )
    reviewed = trail.record(
        review_row,
        "promotion.reviewed",
        by=by,
        data={
            "request": request.pk,
            "model_version": str(request.model_version),
            "decision": decision,
            "role": role,
            "comment": comment,
        },
    )
    if decision == ReviewDecision.REJECT:
        closed = _close(
            request, PromotionStatus.REJECTED, by, f"rejected by {by.get_username()}: {comment}"
        )
        _notify("promotion.rejected", request, closed)
        return
    _notify("promotion.reviewed", request, reviewed)
    if missing:
        _bump(request)
        return
    request.status = PromotionStatus.APPROVED
    _bump(request, "status")
    trail.record(
        request,
        "promotion.approved",
        by=by,
        data={"model_version": str(request.model_version), "target_stage": request.target_stage},
    )
    _run_gate(request, by, prepared)


# --- the gate ---------------------------------------------------------------------------


def _prepare_gate(request: PromotionRequest, by: Any) -> "gate.Prepared":
    version = (
        ModelVersion.objects.select_for_update(of=("self",))
        .select_related("model")
        .get(pk=request.model_version_id)
    )
    return gate.prepare(
        version,
        request.target_stage,
        by=by,
        purpose=EvaluationPurpose.PROMOTION,
        request=request,
        check_permission=False,
    )


def _run_gate(
    request: PromotionRequest, by: Any, prepared: "gate.Prepared | None" = None
) -> PolicyEvaluation:
    """Re-evaluate inside the caller's transaction (model lock held) and promote if it passes."""
    if prepared is None:
        prepared = _prepare_gate(request, by)
    version = prepared.version
    evaluation = gate.store(prepared)
    if not evaluation.passed:
        request.blocking = gate.blocking_reasons(evaluation)
        request.status_reason = "approved, but the policy gate is blocked"
        _bump(request, "blocking", "status_reason")
        blocked = trail.record(
            request,
            "promotion.blocked",
            by=by,
            data={
                "evaluation": evaluation.pk,
                "blocking": [
                    f"{b['policy']}/{b['check']}: {b['reason']}" for b in request.blocking
                ],
            },
        )
        _notify("promotion.blocked", request, blocked)
        return evaluation
    kind = StageChangeKind.ROLLBACK if request.is_rollback else StageChangeKind.PROMOTION
    stages.move(
        version, request.target_stage, by=by, kind=kind, request=request, evaluation=evaluation
    )
    request.blocking = []
    closed = _close(
        request,
        PromotionStatus.COMPLETED,
        by,
        f"promoted to {request.target_stage}",
        data={
            "target_stage": request.target_stage,
            "evaluation": evaluation.pk,
            "artifact_sha256": version.artifact_sha256,
        },
    )
    _notify("promotion.completed", request, closed)
    return evaluation


def promote(*, by: Any, request: PromotionRequest) -> PromotionRequest:
    """Run the gate again for an approved request whose checks blocked it (409 if still
    blocked; the new evaluation and the blocked attempt are recorded either way)."""
    refusal: ModelGateError | None = None
    with transaction.atomic():
        lock_model(request.model_id)
        request = _locked(request.pk)
        refusal = promote_refusal(by, request)
        if not isinstance(refusal, Forbidden):
            refusal = _stale_check(request, by) or refusal
        if refusal is not None:
            _record_refusal(request, by, refusal, {"action": "promote"})
        else:
            evaluation = _run_gate(request, by)
            if not evaluation.passed:
                refusal = Conflict(
                    "the policy gate is blocked: "
                    + "; ".join(f"{b['check']}: {b['reason']}" for b in request.blocking),
                    code="gate_blocked",
                    blocking=request.blocking,
                    evaluation=evaluation.pk,
                )
    if refusal is not None:
        raise refusal
    return PromotionRequest.objects.get(pk=request.pk)


def promote_refusal(user: Any, request: PromotionRequest) -> ModelGateError | None:
    """Why `user` may not retry the gate of `request` now (None: they may). The request page
    asks this to show the retry form; `promote` refuses with the same answer."""
    allowed = (
        request.requested_by_id == user.pk
        or roles.is_admin(user)
        or bool(_eligible_roles(user, request))
    )
    if not allowed or roles.roles_of(user) == frozenset({roles.AUDITOR}):
        return Forbidden(
            "only the requester, the request's reviewers or an admin can retry the gate"
        )
    if request.status != PromotionStatus.APPROVED:
        return Conflict(
            f"the request is {request.status}; only an approved request can be promoted",
            code="request_not_approved",
        )
    return None


# --- withdrawing, demoting, rolling back ---------------------------------------------------


def withdraw_refusal(user: Any, request: PromotionRequest) -> ModelGateError | None:
    """Why `user` may not withdraw `request` now (None: they may): only the requester or an
    admin, only while it is open or approved."""
    if request.requested_by_id != user.pk and not roles.is_admin(user):
        return Forbidden("only the requester or an admin can withdraw a request")
    if request.status not in ACTIVE_REQUEST:
        return Conflict(f"the request is {request.status}, not open", code="request_not_open")
    return None


def withdraw(*, by: Any, request: PromotionRequest, reason: str = "") -> PromotionRequest:
    refusal: ModelGateError | None = None
    with transaction.atomic():
        lock_model(request.model_id)
        request = _locked(request.pk)
        refusal = withdraw_refusal(by, request)
        if refusal is not None:
            _record_refusal(request, by, refusal, {"action": "withdraw"})
        else:
            closed = _close(
                request, PromotionStatus.WITHDRAWN, by, (reason or "").strip() or "withdrawn"
            )
            _notify("promotion.withdrawn", request, closed)
    if refusal is not None:
        raise refusal
    return PromotionRequest.objects.get(pk=request.pk)


def can_demote(user: Any) -> bool:
    return user.is_authenticated and roles.has_role(user, roles.RISK_OFFICER, roles.ADMIN)


def demote(*, by: Any, version: ModelVersion, reason: str) -> StageChange:
    """Take a version out of production or staging (to archived) at once: a risk officer's or
    admin's decision with a reason. Taking a model out of service is never blocked by missing
    evidence; putting one back goes through the gate (`rollback`, or a new request)."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    refusal: ModelGateError | None = None
    change: StageChange | None = None
    with transaction.atomic():
        lock_model(version.model_id)
        version = (
            ModelVersion.objects.select_for_update(of=("self",))
            .select_related("model")
            .get(pk=version.pk)
        )
        if not can_demote(by):
            refusal = Forbidden("only risk officers and admins can demote a version")
        elif not reason:
            raise InvalidInput("a reason is required to demote a version", field="reason")
        elif version.stage not in (Stage.PRODUCTION, Stage.STAGING):
            refusal = Conflict(
                f"{version} is {version.stage}: only production or staging versions can be demoted",
                code="not_demotable",
            )
        if refusal is not None:
            trail.record(
                version,
                "promotion.demotion_refused",
                by=by,
                data={"reason": refusal.detail, "code": refusal.code},
            )
        else:
            change = stages.move(
                version, Stage.ARCHIVED, by=by, kind=StageChangeKind.DEMOTION, reason=reason
            )
    if refusal is not None:
        raise refusal
    assert change is not None
    return change


def rollback(*, by: Any, model: RegisteredModel, justification: str) -> PromotionRequest:
    """Ask to re-promote the previous production version: a request like any other, marked
    as a rollback, that the same reviewers and the same gate decide."""
    previous = stages.previous_production(model)
    if previous is None:
        _refused(
            model,
            "promotion.rollback_refused",
            by,
            Conflict(
                f"{model.name} has no previous production version to roll back to",
                code="nothing_to_roll_back",
            ),
            {},
        )
    return open_request(
        by=by,
        version=previous,
        target_stage=Stage.PRODUCTION,
        justification=justification,
        is_rollback=True,
    )


# --- helpers -------------------------------------------------------------------------------


def _refused(
    target: Any, action: str, by: Any, refusal: ModelGateError, data: dict[str, Any]
) -> NoReturn:
    """Record a refused attempt in its own transaction, then refuse. Never returns."""
    with transaction.atomic():
        trail.record(
            target,
            action,
            by=by if getattr(by, "pk", None) else None,
            data={**data, "code": refusal.code, "reason": refusal.detail},
        )
    raise refusal


def _locked(pk: int) -> PromotionRequest:
    return (
        PromotionRequest.objects.select_for_update(of=("self",))
        .select_related("model_version__model", "model_version__created_by", "requested_by")
        .get(pk=pk)
    )


def _bump(request: PromotionRequest, *fields: str) -> None:
    request.revision += 1
    request.save(update_fields=[*fields, "revision", "updated_at"])


def _close(
    request: PromotionRequest,
    status: str,
    by: Any,
    reason: str,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    request.status = status
    request.status_reason = reason
    request.closed_at = timezone.now()
    _bump(request, "status", "status_reason", "closed_at", "blocking")
    return trail.record(
        request,
        f"promotion.{status}",
        by=by,
        data={"model_version": str(request.model_version), "reason": reason, **(data or {})},
    )


def _record_refusal(
    request: PromotionRequest, by: Any, refusal: ModelGateError, data: dict[str, Any]
) -> None:
    trail.record(
        request,
        "promotion.refused",
        by=by if getattr(by, "pk", None) else None,
        data={**data, "code": refusal.code, "reason": refusal.detail},
    )


def _stale_check(request: PromotionRequest, by: Any) -> ModelGateError | None:
    """Mark the request stale (committed with the refusal) if what it was opened on changed."""
    if request.status not in ACTIVE_REQUEST:
        return None
    from governance.services import staleness

    reason = staleness.reason_for(request)
    if reason is None:
        return None
    staleness.mark(request, reason, by=by)
    return Conflict(f"the request went stale: {reason}; open a new one", code="request_stale")

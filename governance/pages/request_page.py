"""The promotion request page: everything a reviewer needs to decide, on one page.

The header and approvals by role, the candidate next to production (governance.pages.
comparison), the request's latest policy evaluation with its evidence, what evidence is missing
(governance.pages.evidence_status), lineage, the model card, the timeline from the audit trail,
the findings panel, and which actions the signed-in person may take, each answered by the
service that performs the action. A bounded number of queries whatever the number of reviews,
checks, events, findings and versions.
"""

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Q
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import ModelGateError, NotFound
from governance.models import (
    Assessment,
    CheckResult,
    EvaluationPurpose,
    Finding,
    PolicyEvaluation,
    PromotionRequest,
    Review,
    ReviewDecision,
)
from governance.pages import access, comparison, evidence_status, findings
from governance.policies.clauses import title_of
from governance.services import evaluation as gate
from governance.services import promotions
from registry.models import DatasetVersion, EdgeKind, LineageEdge, ModelVersion, Stage

HEX_RUN = re.compile(r"[0-9a-f]{32,}")
CARD_FIELDS = (
    ("title", "Title"),
    ("description", "Description"),
    ("intended_use", "Intended use"),
    ("limitations", "Limitations"),
)


@dataclass(frozen=True)
class Approval:
    reviewer: str
    created_at: Any
    comment: str


@dataclass(frozen=True)
class RoleApprovals:
    role: str
    required: int
    given: tuple[Approval, ...]
    missing: int

    @property
    def complete(self) -> bool:
        return self.missing == 0


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Clause:
    tag: str
    title: str


@dataclass(frozen=True)
class CheckRow:
    check: CheckResult
    policy: str  # "name vN", or "gate" for the gate's own verdicts
    clauses: tuple[Clause, ...]
    evidence: tuple[Link, ...]
    datasets: tuple[str, ...]
    observed: tuple[str, ...]  # one "name: value" line per item
    threshold: tuple[str, ...]


@dataclass(frozen=True)
class Checks:
    evaluation: PolicyEvaluation
    rows: tuple[CheckRow, ...]


@dataclass(frozen=True)
class Dataset:
    ref: str
    sha256: str
    sensitive_features: tuple[str, ...]


@dataclass(frozen=True)
class Lineage:
    training: tuple[Dataset, ...]
    evaluation: tuple[Dataset, ...]
    code_repository: str
    code_commit: str
    parent: ModelVersion | None
    # False: the parent is another team's model the reader may not see; shown without its name.
    parent_visible: bool = True


@dataclass(frozen=True)
class TimelineItem:
    event: AuditEvent
    summary: str


@dataclass(frozen=True)
class RequestPage:
    request: PromotionRequest
    version: ModelVersion
    requirements: tuple[RoleApprovals, ...]
    rejections: tuple[Approval, ...]
    checks: Checks | None
    comparison: comparison.Comparison
    evidence: evidence_status.EvidenceStatus
    lineage: Lineage
    model_card: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    timeline: tuple[TimelineItem, ...]
    findings: findings.FindingsPanel
    decision_refusal: ModelGateError | None  # why no decision at all
    approve_refusal: ModelGateError | None  # why only rejecting is left (a blocked request)
    may_approve: bool
    may_reject: bool
    may_evaluate: bool
    may_retry: bool
    may_withdraw: bool
    url: str

    @property
    def may_decide(self) -> bool:
        return self.may_approve or self.may_reject


def load(pk: int) -> PromotionRequest:
    request = (
        PromotionRequest.objects.select_related(
            "model__owner_team",
            "model_version__model__owner_team",
            "model_version__created_by",
            "model_version__parent__model__owner_team",
            "requested_by",
        )
        .filter(pk=pk)
        .first()
    )
    if request is None:
        raise NotFound(f"no promotion request #{pk}", code="request_not_found")
    return request


def url_of(pk: int) -> str:
    return reverse("web:request", args=[pk])


def build(user: Any, pk: int) -> RequestPage:
    """The page of request `pk` for `user`: NotFound for an unknown request, Forbidden for one
    on a model `user` may not see."""
    request = load(pk)
    access.require_model(user, request.model)
    version = request.model_version
    url = url_of(request.pk)
    reviews = list(
        Review.objects.filter(request=request)
        .select_related("reviewer")
        .order_by("created_at", "id")
    )
    evaluation = (
        PolicyEvaluation.objects.filter(promotion_request=request)
        .select_related("evaluated_by", "baseline_version__model")
        .order_by("-created_at", "-id")
        .first()
    )
    lineage = _lineage(version, user)
    production, note = _production(request, evaluation)
    versions = [version] + ([production] if production else [])
    assessments = comparison.assessments_of(versions)
    # Asked per decision, as the service will ask on submit: an approval can be refused (the
    # person's role is complete, every approval is in) where a rejection is still allowed.
    approve_refusal = promotions.review_refusal(user, request, ReviewDecision.APPROVE)
    reject_refusal = promotions.review_refusal(user, request, ReviewDecision.REJECT)
    return RequestPage(
        request=request,
        version=version,
        requirements=_requirements(request, reviews),
        rejections=tuple(
            Approval(r.reviewer.get_username(), r.created_at, r.comment)
            for r in reviews
            if r.decision == ReviewDecision.REJECT
        ),
        checks=check_rows(evaluation) if evaluation else None,
        comparison=comparison.build(
            version,
            production,
            evaluation_datasets=lineage.evaluation_versions,
            production_note=note,
            assessments=assessments,
        ),
        evidence=evidence_status.build(
            user,
            request,
            evaluation_datasets=lineage.evaluation_versions,
            policy_versions=list(request.policy_versions.select_related("policy")),
            succeeded=[
                a for (vid, _), rows in assessments.items() if vid == version.pk for a in rows
            ],
            now=timezone.now(),
        )
        if request.is_active
        else evidence_status.EvidenceStatus((), None, ()),
        lineage=lineage.public,
        model_card=_model_card(request.model, version),
        tags=tuple(request.model.tags or ()),
        timeline=_timeline(request, reviews),
        findings=findings.panel(
            user, version, promotion_request=request, next_url=url + "#findings"
        ),
        decision_refusal=reject_refusal,
        approve_refusal=approve_refusal if reject_refusal is None else None,
        may_approve=approve_refusal is None,
        may_reject=reject_refusal is None,
        may_evaluate=request.is_active and gate.can_evaluate(user, version),
        may_retry=promotions.promote_refusal(user, request) is None,
        may_withdraw=promotions.withdraw_refusal(user, request) is None,
        url=url,
    )


def _model_card(model: Any, version: ModelVersion) -> tuple[tuple[str, str], ...]:
    fields = [(label, getattr(model, name) or "") for name, label in CARD_FIELDS]
    return (*fields, ("Version description", version.description or ""))


# --- approvals ---------------------------------------------------------------------------------


def _requirements(request: PromotionRequest, reviews: list[Review]) -> tuple[RoleApprovals, ...]:
    """Required approvals by role, who gave them and how many are missing (the service's
    count, from the reviews already loaded)."""
    approvals = [r for r in reviews if r.decision == ReviewDecision.APPROVE]
    missing = promotions.missing_of(request.required_approvals, Counter(r.role for r in approvals))
    return tuple(
        RoleApprovals(
            role,
            count,
            tuple(
                Approval(r.reviewer.get_username(), r.created_at, r.comment)
                for r in approvals
                if r.role == role
            ),
            missing.get(role, 0),
        )
        for role, count in request.required_approvals.items()
    )


# --- checks ------------------------------------------------------------------------------------


def check_rows(evaluation: PolicyEvaluation) -> Checks:
    """Every check of `evaluation` with its clauses and links to its evidence: two queries."""
    checks = list(
        CheckResult.objects.filter(evaluation=evaluation)
        .select_related("policy_version__policy")
        .order_by("position")
    )
    cited = {
        i for c in checks for i in (c.evidence or {}).get("assessments", []) if isinstance(i, int)
    }
    where = {
        pk: (name, number, kind)
        for pk, name, number, kind in Assessment.objects.filter(pk__in=cited).values_list(
            "pk", "model_version__model__name", "model_version__version", "kind"
        )
    }
    return Checks(evaluation, tuple(_row(c, where) for c in checks))


def _row(check: CheckResult, where: dict[int, tuple[str, int, str]]) -> CheckRow:
    evidence = check.evidence or {}
    links = []
    for pk in evidence.get("assessments", []):
        found = where.get(pk)
        if found is None or found[0] is None:
            continue
        name, number, kind = found
        url = reverse("web:version", args=[name, number]) + f"#assessment-{pk}"
        links.append(Link(f"{kind} assessment #{pk} ({name}:{number})", url))
    for pk in evidence.get("findings", []):
        links.append(Link(f"finding #{pk}", reverse("web:finding", args=[pk])))
    request_id = evidence.get("promotion_request")
    if request_id:
        links.append(Link(f"request #{request_id}", reverse("web:request", args=[request_id])))
    return CheckRow(
        check=check,
        policy=str(check.policy_version) if check.policy_version_id else "gate",
        clauses=tuple(Clause(tag, title_of(tag) or tag) for tag in check.clauses or ()),
        evidence=tuple(links),
        datasets=tuple(evidence.get("datasets", [])),
        observed=_lines(check.observed),
        threshold=_lines(check.threshold),
    )


def _lines(value: Any) -> tuple[str, ...]:
    """A verdict's observed value or threshold as short readable lines, one per item."""
    if isinstance(value, dict):
        return tuple(f"{k.replace('_', ' ')}: {_plain(v) or 'none'}" for k, v in value.items())
    text = _plain(value)
    return (text,) if text else ()


def _plain(value: Any) -> str:
    """A verdict's observed value or threshold as short readable text."""
    if value is None or value == {} or value == []:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_plain(v) or 'none'}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    # Digests in full are in the comparison and the lineage; here they would only widen the table.
    return HEX_RUN.sub(lambda m: m.group()[:12] + "\N{HORIZONTAL ELLIPSIS}", str(value))


def re_evaluate(user: Any, pk: int) -> Checks:
    """Run the policies now (a dry run the service records) and the resulting rows. While
    the request is active the run carries its approvals; the service decides who may run it."""
    request = load(pk)
    evaluation = gate.evaluate(
        request.model_version,
        request.target_stage,
        by=user,
        purpose=EvaluationPurpose.DRY_RUN,
        request=request if request.is_active else None,
    )
    return check_rows(evaluation)


# --- comparison baseline, lineage -------------------------------------------------------------


def _production(
    request: PromotionRequest, evaluation: PolicyEvaluation | None
) -> tuple[ModelVersion | None, str]:
    version = request.model_version
    current = (
        ModelVersion.objects.filter(model_id=version.model_id, stage=Stage.PRODUCTION)
        .exclude(pk=version.pk)
        .select_related("model")
        .first()
    )
    if current is not None:
        return current, f"{current} is in production now"
    baseline = evaluation.baseline_version if evaluation else None
    if baseline is not None and baseline.pk != version.pk:
        return baseline, (
            f"{baseline} was in production when the policies were last evaluated "
            f"({evaluation.created_at:%Y-%m-%d %H:%M})"
        )
    if version.stage == Stage.PRODUCTION:
        return None, f"{version} itself is in production; no other version to compare with"
    return None, f"no version of {version.model.name} is in production"


@dataclass(frozen=True)
class _LoadedLineage:
    public: Lineage
    evaluation_versions: list[DatasetVersion]


def _lineage(version: ModelVersion, user: Any) -> _LoadedLineage:
    edges = (
        LineageEdge.objects.filter(
            subject_model_version=version,
            kind__in=(EdgeKind.TRAINED_ON, EdgeKind.EVALUATED_ON),
            object_dataset_version__isnull=False,
        )
        .select_related("object_dataset_version__dataset")
        .order_by("id")
    )
    training, evaluation = [], []
    for edge in edges:
        dataset = edge.object_dataset_version
        (training if edge.kind == EdgeKind.TRAINED_ON else evaluation).append(dataset)

    def shown(datasets: list[DatasetVersion]) -> tuple[Dataset, ...]:
        return tuple(Dataset(str(d), d.sha256, tuple(d.sensitive_features or ())) for d in datasets)

    return _LoadedLineage(
        Lineage(
            training=shown(training),
            evaluation=shown(evaluation),
            code_repository=version.code_repository,
            code_commit=version.code_commit,
            parent=version.parent,
            parent_visible=version.parent is None
            or access.can_see_model(user, version.parent.model),
        ),
        evaluation,
    )


# --- timeline ----------------------------------------------------------------------------------


def _as_text(queryset: Any) -> Any:
    return queryset.annotate(target=Cast("pk", CharField())).values("target")


def _timeline(request: PromotionRequest, reviews: list[Review]) -> tuple[TimelineItem, ...]:
    """The audit events on the request, its reviews, its evaluations and the findings raised on
    it (or on its version while it was open): one query."""
    evaluations = PolicyEvaluation.objects.filter(promotion_request=request)
    findings = Finding.objects.filter(
        Q(promotion_request=request)
        | Q(model_version_id=request.model_version_id, created_at__gte=request.created_at)
    )
    events = AuditEvent.objects.filter(
        Q(target_type="governance.promotionrequest", target_id=str(request.pk))
        | Q(target_type="governance.review", target_id__in=[str(r.pk) for r in reviews])
        | Q(target_type="governance.policyevaluation", target_id__in=_as_text(evaluations))
        | Q(target_type="governance.finding", target_id__in=_as_text(findings))
    ).order_by("created_at", "id")
    return tuple(TimelineItem(e, _summary(e)) for e in events)


def _summary(event: AuditEvent) -> str:
    data = event.data or {}
    action = event.action
    if action == "promotion.reviewed":
        return f"{data.get('decision')} as {data.get('role')}: {data.get('comment', '')}"
    if action == "promotion.refused":
        return f"refused ({data.get('code')}): {data.get('reason', '')}"
    if action == "policy.evaluated":
        verdict = "passed" if data.get("passed") else "failed"
        failed = data.get("failed_checks") or []
        purpose = str(data.get("purpose", "")).replace("_", " ")
        return f"{purpose} evaluation {verdict}" + (f": {', '.join(failed)}" if failed else "")
    if action == "promotion.requested":
        return f"to {data.get('target_stage')}: {data.get('justification', '')}"
    if action == "promotion.blocked":
        return "; ".join(data.get("blocking", []))
    if "reason" in data:
        return str(data["reason"])
    return event.target_repr

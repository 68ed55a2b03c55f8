"""The reviewer's inbox: what the signed-in person may review now, the requests they made, and
recent decisions, each row saying what still blocks it.

Sections:
- reviewable: open requests that `promotions.reviewable(user)` lets this person decide (the
  separation-of-duties rules of the service, as one SQL condition), oldest first;
- mine: requests they made, the active ones (open, approved) unless a status filter says
  otherwise, newest first;
- recent: closed requests they made or reviewed; auditors and admins see every closed request.
  Most recently closed first.

Every section only holds requests on models the person may see (data scientists: their teams').
The filters (status, risk tier, team) narrow every section.

Bounded queries whatever the number of requests, reviews and checks: per section one count, one
query for the page's rows (model, version and requester joined; the id of each request's latest
evaluation as a subquery), one for the page's approvals, one for the failing checks of the
page's latest evaluations, one for the pinned policy versions (the severity findings block at)
and one for the unresolved findings of its versions; plus the team choices of the filter form.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import QueryDict
from django.utils import timezone
from django.utils.timesince import timesince

from core import roles
from core.models import Team
from governance.models import (
    ACTIVE_REQUEST,
    CLOSED_REQUEST,
    UNRESOLVED,
    CheckResult,
    Finding,
    PolicyEvaluation,
    PolicyVersion,
    PromotionRequest,
    PromotionStatus,
    Review,
    ReviewDecision,
)
from governance.models.findings import at_least
from governance.pages import access
from governance.pages.catalogue import (
    APPROVAL_CHECK_TYPES,
    PageLinks,
    chosen_filters,
    page_links,
)
from governance.services import findings, promotions
from registry.models import RegisteredModel, RiskTier

PAGE_SIZE = 25


class InboxFilters(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *PromotionStatus.choices]
    )
    risk_tier = forms.ChoiceField(
        required=False, label="Risk tier", choices=[("", "Any risk tier"), *RiskTier.choices]
    )
    team = forms.ChoiceField(required=False, choices=[("", "Any team")])

    def __init__(self, data: Any, *, teams: list[str]) -> None:
        super().__init__(data)
        self.fields["team"].choices = [("", "Any team"), *((name, name) for name in teams)]


@dataclass(frozen=True)
class MissingApproval:
    role: str
    count: int


@dataclass(frozen=True)
class Row:
    request: PromotionRequest
    age_text: str
    closed_text: str  # how long ago it was closed ("" while active)
    failing_checks: tuple[str, ...]  # titles of the latest evaluation's failing checks
    missing_approvals: tuple[MissingApproval, ...]
    approved_by: tuple[str, ...]  # "vera (validator)"
    # Unresolved findings on the version now at or above the severity the request's pinned
    # policies block at (no_open_findings): they block the gate even when raised after the
    # latest evaluation.
    blocking_findings: int = 0

    @property
    def pk(self) -> int:
        return self.request.pk

    @property
    def label(self) -> str:
        return f"{self.request.model.name}:{self.request.model_version.version}"

    @property
    def is_active(self) -> bool:
        return self.request.is_active

    @property
    def is_blocked(self) -> bool:
        return bool(self.failing_checks or self.missing_approvals or self.blocking_findings)


@dataclass(frozen=True)
class Section:
    key: str  # "reviewable", "mine", "recent": the data-testid is inbox-<key>
    title: str
    empty: str
    page: Page
    rows: tuple[Row, ...]
    page_param: str  # the GET parameter holding this section's page number
    links: PageLinks

    @property
    def testid(self) -> str:
        return f"inbox-{self.key}"


@dataclass(frozen=True)
class InboxPage:
    filters: InboxFilters
    filter_errors: tuple[str, ...]
    sections: tuple[Section, ...]
    is_filtered: bool

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def build(user: Any, params: QueryDict, *, now: datetime | None = None) -> InboxPage:
    now = now or timezone.now()
    filters = InboxFilters(params, teams=_team_names(user))
    chosen, errors = chosen_filters(filters)
    base = _visible_requests(user)
    if chosen.get("risk_tier"):
        base = base.filter(risk_tier=chosen["risk_tier"])
    if chosen.get("team"):
        base = base.filter(model__owner_team__name=chosen["team"])
    status = chosen.get("status")

    reviewable = base.filter(promotions.reviewable(user))
    mine = base.filter(requested_by_id=user.pk)
    mine = mine.filter(status=status) if status else mine.filter(status__in=ACTIVE_REQUEST)
    recent = base.filter(status__in=CLOSED_REQUEST)
    if not _sees_all_decisions(user):
        recent = recent.filter(
            Q(requested_by_id=user.pk)
            | Q(pk__in=Review.objects.filter(reviewer_id=user.pk).values("request_id"))
        )
    if status:
        reviewable = reviewable.filter(status=status)
        recent = recent.filter(status=status)

    sections = (
        _section(
            "reviewable",
            "Waiting for your review",
            "Nothing waits for your review.",
            reviewable.order_by("created_at", "id"),
            params,
            now,
        ),
        _section(
            "mine",
            "Your requests",
            "You have no requests here.",
            mine.order_by("-created_at", "-id"),
            params,
            now,
        ),
        _section(
            "recent",
            "Recent decisions",
            "No decisions yet.",
            recent.order_by("-closed_at", "-id"),
            params,
            now,
        ),
    )
    return InboxPage(
        filters=filters, filter_errors=errors, sections=sections, is_filtered=bool(chosen)
    )


def _sees_all_decisions(user: Any) -> bool:
    return roles.has_role(user, roles.AUDITOR, roles.ADMIN)


def _team_names(user: Any) -> list[str]:
    teams = Team.objects.order_by("name")
    if not access.sees_every_model(user):
        teams = teams.filter(members=user)
    return list(teams.values_list("name", flat=True))


def _visible_requests(user: Any) -> QuerySet[PromotionRequest]:
    requests = PromotionRequest.objects.all()
    if not access.sees_every_model(user):
        visible = RegisteredModel.objects.filter(access.visible_models(user)).values("pk")
        requests = requests.filter(model_id__in=visible)
    return requests


def _rows_query(requests: QuerySet[PromotionRequest]) -> QuerySet[PromotionRequest]:
    latest = (
        PolicyEvaluation.objects.filter(promotion_request=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    approvals = Review.objects.filter(decision=ReviewDecision.APPROVE).select_related("reviewer")
    return (
        requests.select_related("model__owner_team", "model_version", "requested_by")
        .annotate(latest_evaluation_id=Subquery(latest))
        .prefetch_related(
            Prefetch("reviews", queryset=approvals, to_attr="approvals"),
            Prefetch("policy_versions", queryset=PolicyVersion.objects.only("pk", "document")),
        )
    )


def _section(
    key: str,
    title: str,
    empty: str,
    requests: QuerySet[PromotionRequest],
    params: QueryDict,
    now: datetime,
) -> Section:
    page_param = f"{key}_page"
    page = Paginator(_rows_query(requests), PAGE_SIZE).get_page(params.get(page_param))
    found = list(page.object_list)
    failing = _failing_checks([r.latest_evaluation_id for r in found if r.is_active])
    unresolved = _unresolved_findings([r.model_version_id for r in found if r.is_active])
    rows = tuple(_row(r, failing, unresolved, now) for r in found)
    return Section(
        key=key,
        title=title,
        empty=empty,
        page=page,
        rows=rows,
        page_param=page_param,
        links=page_links(params, page_param, page),
    )


def _failing_checks(evaluation_ids: list[int | None]) -> dict[int, list[str]]:
    """Failing check titles of these evaluations, in check order. One query (none if empty)."""
    ids = [i for i in evaluation_ids if i is not None]
    if not ids:
        return {}
    found: dict[int, list[str]] = {}
    checks = (
        CheckResult.objects.filter(evaluation_id__in=ids, passed=False)
        .exclude(check_type__in=APPROVAL_CHECK_TYPES)
        .order_by("evaluation_id", "position")
        .values_list("evaluation_id", "title", "check_id")
    )
    for evaluation_id, title, check_id in checks:
        found.setdefault(evaluation_id, []).append(title or check_id)
    return found


def _unresolved_findings(version_ids: list[int]) -> dict[int, list[str]]:
    """The severities of the unresolved findings per version. One query (none if empty)."""
    found: dict[int, list[str]] = {}
    if version_ids:
        rows = Finding.objects.filter(
            model_version_id__in=version_ids, status__in=UNRESOLVED
        ).values_list("model_version_id", "severity")
        for version_id, severity in rows:
            found.setdefault(version_id, []).append(severity)
    return found


def _blocking_findings(request: PromotionRequest, unresolved: dict[int, list[str]]) -> int:
    threshold = findings.gate_threshold(request.policy_versions.all())
    if threshold is None:
        return 0
    blocking = at_least(threshold)
    return sum(1 for s in unresolved.get(request.model_version_id, []) if s in blocking)


def _row(
    request: PromotionRequest,
    failing: dict[int, list[str]],
    unresolved: dict[int, list[str]],
    now: datetime,
) -> Row:
    approvals: list[Review] = request.approvals  # type: ignore[attr-defined]
    active = request.is_active
    missing = (
        promotions.missing_of(request.required_approvals, Counter(a.role for a in approvals))
        if active
        else {}
    )
    checks = failing.get(request.latest_evaluation_id, []) if active else []  # type: ignore[attr-defined]
    return Row(
        request=request,
        age_text=timesince(request.created_at, now),
        closed_text=timesince(request.closed_at, now) if request.closed_at else "",
        failing_checks=tuple(checks),
        missing_approvals=tuple(MissingApproval(r, n) for r, n in missing.items()),
        approved_by=tuple(f"{a.reviewer.get_username()} ({a.role})" for a in approvals),
        blocking_findings=_blocking_findings(request, unresolved) if active else 0,
    )

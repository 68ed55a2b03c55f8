"""The model catalogue: the models the signed-in person may see, filtered and searched, each with
its production and latest version and its counts of open requests and unresolved findings.

Filters:
- risk_tier, team: the model's own;
- stage: the model has a version in that stage now;
- blocked ("has blocked requests"): the model has an active request that something other than
  missing approvals holds back, i.e. an approved request whose gate run left `blocking` reasons,
  or an open or approved request whose latest policy evaluation has a failing check other than
  the approvals check (which fails on every request until its reviewers decide);
- open_findings: a finding on any of its versions is unresolved (open or answered);
- q: words searched in the name, title and description (every word must match).

Two queries whatever the number of models and versions (the count and the page, every figure a
correlated subquery), plus the team choices of the filter form.
"""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import QueryDict

from core.models import Team
from governance.models import (
    ACTIVE_REQUEST,
    CheckResult,
    Finding,
    PolicyEvaluation,
    PromotionRequest,
    PromotionStatus,
)
from governance.models.findings import UNRESOLVED
from governance.pages import access
from registry.models import ModelVersion, RegisteredModel, RiskTier, Stage

PAGE_SIZE = 25
# Missing approvals are counted from the reviews themselves (always current), so the policy's
# approvals check, which an evaluation records as failing until reviewers decide, neither
# makes a request "blocked" nor is listed among its failing checks (the inbox reads this too).
APPROVAL_CHECK_TYPES = ("approvals",)


class CatalogueFilters(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    risk_tier = forms.ChoiceField(
        required=False, label="Risk tier", choices=[("", "Any risk tier"), *RiskTier.choices]
    )
    stage = forms.ChoiceField(
        required=False,
        label="Has a version in",
        choices=[
            ("", "Any stage"),
            *((value, label) for value, label in Stage.choices if value != Stage.NONE),
        ],
    )
    team = forms.ChoiceField(required=False, choices=[("", "Any team")])
    blocked = forms.BooleanField(required=False, label="Has blocked requests")
    open_findings = forms.BooleanField(required=False, label="Has open findings")

    def __init__(self, data: Any, *, teams: list[str]) -> None:
        super().__init__(data)
        self.fields["team"].choices = [("", "Any team"), *((name, name) for name in teams)]


@dataclass(frozen=True)
class PageLinks:
    """Links to the previous and next page of one paginated list, keeping the other
    parameters (filters, the other lists' pages)."""

    previous: str | None
    next: str | None


def page_links(params: QueryDict, param: str, page: Page) -> PageLinks:
    def link(number: int) -> str:
        query = params.copy()
        query[param] = str(number)
        return f"?{query.urlencode()}"

    return PageLinks(
        previous=link(page.previous_page_number()) if page.has_previous() else None,
        next=link(page.next_page_number()) if page.has_next() else None,
    )


@dataclass(frozen=True)
class CataloguePage:
    filters: CatalogueFilters
    filter_errors: tuple[str, ...]
    page: Page
    # RegisteredModel rows annotated with production_version, latest_version, open_requests
    # and unresolved_findings (numbers from the database, not the template).
    rows: tuple[RegisteredModel, ...]
    total: int
    is_filtered: bool
    links: PageLinks


def chosen_filters(form: forms.Form) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The filters given and valid, and a message for each one refused (which is ignored,
    so a bad link still shows a page)."""
    form.is_valid()
    chosen = {name: value for name, value in form.cleaned_data.items() if value}
    errors = tuple(
        f"{form.fields[name].label or name.replace('_', ' ').capitalize()}: {message}"
        for name, messages in form.errors.items()
        for message in messages
    )
    return chosen, errors


def count_of(queryset: QuerySet[Any], group_by: str) -> Coalesce:
    """A correlated COUNT(*) of `queryset` (already filtered on OuterRef), 0 when empty."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def blocked_requests() -> QuerySet[PromotionRequest]:
    """Active requests held back by something other than missing approvals (see the module's
    docstring)."""
    latest = (
        PolicyEvaluation.objects.filter(promotion_request=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    failing = CheckResult.objects.filter(evaluation_id=OuterRef("latest_id"), passed=False).exclude(
        check_type__in=APPROVAL_CHECK_TYPES
    )
    gate_blocked = Q(status=PromotionStatus.APPROVED) & ~Q(blocking=[])
    return (
        PromotionRequest.objects.filter(status__in=ACTIVE_REQUEST)
        .annotate(latest_id=Subquery(latest))
        .filter(gate_blocked | Exists(failing))
    )


def annotated_models(user: Any) -> QuerySet[RegisteredModel]:
    models = RegisteredModel.objects.filter(access.visible_models(user))
    production = ModelVersion.objects.filter(model=OuterRef("pk"), stage=Stage.PRODUCTION).values(
        "version"
    )[:1]
    latest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-version")
    return models.select_related("owner_team").annotate(
        production_version=Subquery(production),
        latest_version=Subquery(latest.values("version")[:1]),
        open_requests=count_of(
            PromotionRequest.objects.filter(model=OuterRef("pk"), status__in=ACTIVE_REQUEST),
            "model",
        ),
        unresolved_findings=count_of(
            Finding.objects.filter(model_version__model=OuterRef("pk"), status__in=UNRESOLVED),
            "model_version__model",
        ),
    )


def build(user: Any, params: QueryDict) -> CataloguePage:
    teams = Team.objects.order_by("name")
    if not access.sees_every_model(user):
        teams = teams.filter(members=user)
    filters = CatalogueFilters(params, teams=list(teams.values_list("name", flat=True)))
    chosen, errors = chosen_filters(filters)
    models = annotated_models(user)
    if chosen.get("risk_tier"):
        models = models.filter(risk_tier=chosen["risk_tier"])
    if chosen.get("team"):
        models = models.filter(owner_team__name=chosen["team"])
    if chosen.get("stage"):
        in_stage = ModelVersion.objects.filter(model=OuterRef("pk"), stage=chosen["stage"])
        models = models.filter(Exists(in_stage))
    if chosen.get("blocked"):
        models = models.filter(Exists(blocked_requests().filter(model=OuterRef("pk"))))
    if chosen.get("open_findings"):
        unresolved = Finding.objects.filter(
            model_version__model=OuterRef("pk"), status__in=UNRESOLVED
        )
        models = models.filter(Exists(unresolved))
    for word in chosen.get("q", "").split():
        models = models.filter(
            Q(name__icontains=word) | Q(title__icontains=word) | Q(description__icontains=word)
        )
    page = Paginator(models.order_by("name"), PAGE_SIZE).get_page(params.get("page"))
    return CataloguePage(
        filters=filters,
        filter_errors=errors,
        page=page,
        rows=tuple(page.object_list),
        total=page.paginator.count,
        is_filtered=bool(chosen),
        links=page_links(params, "page", page),
    )

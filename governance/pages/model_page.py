"""A model's page: its card, its versions (50 a page), its stage history (20 changes a page) and
the answer to "which version was in <stage> on <date>" (`stages.stage_at`).

Bounded queries whatever the number of versions, findings, requests and stage changes: the
model, the team check for a data scientist, a count and a page for the versions (findings and
the active request as correlated subqueries), a count and a page for the history, and one query
for the stage-at answer.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Subquery
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import NotFound
from governance.models import ACTIVE_REQUEST, Finding, PromotionRequest, StageChange
from governance.models.findings import UNRESOLVED
from governance.pages import access
from governance.pages.catalogue import PageLinks, count_of, page_links
from governance.services import stages
from registry.models import ModelVersion, RegisteredModel, Stage

VERSIONS_PER_PAGE = 50
HISTORY_PER_PAGE = 20
STAGE_AT_CHOICES = [(v, label) for v, label in Stage.choices if v != Stage.NONE]


class StageAtForm(forms.Form):
    at = forms.CharField(
        label="Date",
        max_length=40,
        error_messages={"required": "Give a date (YYYY-MM-DD) to ask about."},
        widget=forms.DateInput(attrs={"type": "date", "aria-describedby": "at-help"}),
        help_text="The answer holds at the end of that day (server time zone).",
    )
    stage = forms.ChoiceField(label="Stage", choices=STAGE_AT_CHOICES, initial=Stage.PRODUCTION)


@dataclass(frozen=True)
class StageAt:
    """The answer to "which version was in `stage` at `at`" (asked when `at` was given)."""

    asked: bool
    error: str | None = None
    at: datetime | None = None
    on_date: date | None = None  # the date asked, when a date (not a moment) was given
    stage: str = Stage.PRODUCTION
    changes: tuple[StageChange, ...] = ()  # the moves that put each version there, newest first

    @property
    def answered(self) -> bool:
        return self.asked and self.error is None

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(c.model_version.version for c in self.changes)


@dataclass(frozen=True)
class ModelPage:
    model: RegisteredModel
    versions_page: Page  # ModelVersion rows with unresolved_findings and active_request_id
    versions: tuple[ModelVersion, ...]
    version_count: int
    history_page: Page
    history: tuple[StageChange, ...]
    stage_at_form: StageAtForm
    stage_at: StageAt
    versions_links: PageLinks
    history_links: PageLinks
    versions_per_page: int = VERSIONS_PER_PAGE
    history_per_page: int = HISTORY_PER_PAGE


def find_model(name: str) -> RegisteredModel:
    model = (
        RegisteredModel.objects.select_related("owner_team", "created_by").filter(name=name).first()
    )
    if model is None:
        raise NotFound(f"no model named {name!r}", code="model_not_found")
    return model


def build(user: Any, name: str, params: QueryDict) -> ModelPage:
    """Raises NotFound for an unknown model, Forbidden for a model `user` may not see."""
    model = find_model(name)
    access.require_model(user, model)
    versions = (
        ModelVersion.objects.filter(model=model)
        .select_related("created_by")
        .annotate(
            unresolved_findings=count_of(
                Finding.objects.filter(model_version=OuterRef("pk"), status__in=UNRESOLVED),
                "model_version",
            ),
            active_request_id=Subquery(
                PromotionRequest.objects.filter(
                    model_version=OuterRef("pk"), status__in=ACTIVE_REQUEST
                ).values("pk")[:1]
            ),
        )
        .order_by("-version")
    )
    versions_page = Paginator(versions, VERSIONS_PER_PAGE).get_page(params.get("versions_page"))
    rows = tuple(versions_page.object_list)
    for version in rows:
        version.model = model  # spares a query per row wherever the version names its model
    history = (
        StageChange.objects.filter(model=model)
        .select_related("model_version", "changed_by")
        .order_by("-created_at", "-id")
    )
    history_page = Paginator(history, HISTORY_PER_PAGE).get_page(params.get("history_page"))
    form, answer = stage_at(model, params)
    return ModelPage(
        model=model,
        versions_page=versions_page,
        versions=rows,
        version_count=versions_page.paginator.count,
        history_page=history_page,
        history=tuple(history_page.object_list),
        stage_at_form=form,
        stage_at=answer,
        versions_links=page_links(params, "versions_page", versions_page),
        history_links=page_links(params, "history_page", history_page),
    )


def parse_moment(text: str) -> tuple[datetime, date | None]:
    """A date (the end of that day, in the server's time zone) or a date and time. Raises
    ValueError with a reason for anything else."""
    text = text.strip()
    try:
        # A bare date first: parse_datetime would read it as that day's midnight.
        day = parse_date(text)
        moment = parse_datetime(text) if day is None else datetime.combine(day, time.max)
    except ValueError:
        raise ValueError(f"{text!r} is not a real date") from None
    if moment is None:
        raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD (or YYYY-MM-DDTHH:MM)")
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        # The database compares in UTC: a moment that cannot be expressed there is no date.
        moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{text!r} is outside the dates ModelGate can compare") from None
    return moment, day


def stage_at(model: RegisteredModel, params: QueryDict) -> tuple[StageAtForm, StageAt]:
    if "at" not in params:
        return StageAtForm(initial={"stage": Stage.PRODUCTION}), StageAt(asked=False)
    data = params.copy()
    if not data.get("stage"):
        data["stage"] = Stage.PRODUCTION
    form = StageAtForm(data)
    if not form.is_valid():
        reasons = [m for messages in form.errors.values() for m in messages]
        return form, StageAt(asked=True, error=" ".join(reasons))
    try:
        moment, day = parse_moment(form.cleaned_data["at"])
    except ValueError as bad:
        return form, StageAt(asked=True, error=str(bad))
    stage = form.cleaned_data["stage"]
    changes = tuple(stages.stage_at(model, moment, stage).order_by("-created_at", "-id"))
    return form, StageAt(asked=True, at=moment, on_date=day, stage=stage, changes=changes)

"""The findings panel of a version (shown on the version page, the request page and a finding's
own page): the version's findings, what the signed-in person may do with each, and the raise
form's choices. Two queries whatever the number of findings: the findings with their people,
and (for someone who may raise one) the owning team's active members."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import NotFound
from core.roles import DATA_SCIENTIST
from governance.models import Finding, FindingSeverity, PromotionRequest
from governance.models.findings import SEVERITY_ORDER
from governance.pages import access
from governance.services import findings as service
from registry.models import ModelVersion

PEOPLE = ("owner", "raised_by", "answered_by", "closed_by")


@dataclass(frozen=True)
class OwnerChoice:
    id: int
    username: str


@dataclass(frozen=True)
class SeverityChoice:
    value: str
    label: str


@dataclass(frozen=True)
class SeverityCount:
    severity: str
    count: int


@dataclass(frozen=True)
class FindingRow:
    finding: Finding
    may_answer: bool
    may_close: bool
    # The service's reasons, for a page that wants to say why no form is shown.
    answer_refusal: str | None
    close_refusal: str | None
    overdue: bool  # unresolved past its due date

    @property
    def pk(self) -> int:
        return self.finding.pk

    @property
    def is_unresolved(self) -> bool:
        return self.finding.is_unresolved

    @property
    def has_actions(self) -> bool:
        return self.may_answer or self.may_close


@dataclass(frozen=True)
class FindingsPanel:
    version: ModelVersion
    rows: tuple[FindingRow, ...]  # unresolved first, newest first within each group
    can_raise: bool
    owner_choices: tuple[OwnerChoice, ...]  # empty when the user may not raise
    severities: tuple[SeverityChoice, ...]
    next_url: str
    promotion_request: int | None
    unresolved_by_severity: tuple[SeverityCount, ...]  # most severe first
    unresolved_total: int

    @property
    def has_findings(self) -> bool:
        return bool(self.rows)


def row(user: Any, finding: Finding, *, requester: bool | None = None) -> FindingRow:
    """What `user` may do with `finding` (its people must be loaded: see PEOPLE); `requester`
    as `findings.close_refusal` takes it."""
    answer = service.answer_refusal(user, finding)
    close = service.close_refusal(user, finding, requester=requester)
    return FindingRow(
        finding=finding,
        may_answer=answer is None,
        may_close=close is None,
        answer_refusal=answer.detail if answer is not None else None,
        close_refusal=close.detail if close is not None else None,
        overdue=(
            finding.is_unresolved
            and finding.due_date is not None
            and finding.due_date < timezone.localdate()
        ),
    )


def owner_choices(version: ModelVersion) -> tuple[OwnerChoice, ...]:
    """Who may own a finding on `version` (as the service demands): the active data scientists
    of the model's owning team."""
    members = (
        get_user_model()
        .objects.filter(
            teams__pk=version.model.owner_team_id, is_active=True, groups__name=DATA_SCIENTIST
        )
        .order_by("username")
        .values_list("pk", "username")
    )
    return tuple(OwnerChoice(pk, username) for pk, username in members)


def panel(
    user: Any,
    version: ModelVersion,
    *,
    promotion_request: PromotionRequest | None = None,
    next_url: str,
) -> FindingsPanel:
    findings = list(
        Finding.objects.filter(model_version=version)
        .select_related(*PEOPLE)
        .order_by("-created_at", "-id")
    )
    for finding in findings:
        # The panel is about this version: spare a query per finding in __str__ and refusals.
        finding.model_version = version
    # A stable sort keeps newest first within the unresolved and the closed group.
    findings.sort(key=lambda f: not f.is_unresolved)
    may_raise = service.can_raise(user)
    requester = bool(findings) and version.pk in service.requested_versions(user, [version.pk])
    counts = {level.value: 0 for level in SEVERITY_ORDER}
    for finding in findings:
        if finding.is_unresolved:
            counts[finding.severity] += 1
    return FindingsPanel(
        version=version,
        rows=tuple(row(user, f, requester=requester) for f in findings),
        can_raise=may_raise,
        owner_choices=owner_choices(version) if may_raise else (),
        severities=tuple(
            SeverityChoice(value, str(label)) for value, label in FindingSeverity.choices
        ),
        next_url=next_url,
        promotion_request=promotion_request.pk if promotion_request else None,
        unresolved_by_severity=tuple(
            SeverityCount(level.value, counts[level.value]) for level in reversed(SEVERITY_ORDER)
        ),
        unresolved_total=sum(counts.values()),
    )


@dataclass(frozen=True)
class FindingPage:
    """A finding's own page: the finding, what the user may do with it, and its audit events."""

    row: FindingRow
    events: tuple[AuditEvent, ...]  # oldest first
    next_url: str

    @property
    def finding(self) -> Finding:
        return self.row.finding

    @property
    def version(self) -> ModelVersion:
        return self.row.finding.model_version


def find_finding(pk: int) -> Finding:
    """The finding with what its page and its forms read; NotFound when there is none."""
    finding = (
        Finding.objects.select_related(
            "model_version__model__owner_team", "promotion_request", *PEOPLE
        )
        .filter(pk=pk)
        .first()
    )
    if finding is None:
        raise NotFound(f"no finding #{pk}", code="finding_not_found")
    return finding


def finding_page(user: Any, pk: int, *, next_url: str) -> FindingPage:
    """Raises NotFound for an unknown finding, Forbidden for one on a model `user` may not see."""
    finding = find_finding(pk)
    access.require_model(user, finding.model_version.model)
    events = AuditEvent.objects.for_object(finding).order_by("created_at", "id")
    return FindingPage(row=row(user, finding), events=tuple(events), next_url=next_url)

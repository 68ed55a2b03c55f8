"""The model inventory: every registered model in one table, the list a supervisor asks for
first. Written as CSV for now (the PDF rendering comes with the dossier).

Per model: risk tier, owner team, the version in production and since when, the last
validation (the newest validator approval given on a request of that version), unresolved
findings by severity over all its versions, when the production version's approvals expire and
whether that is soon, and the production version's regulatory coverage per framework (from
`coverage`, the evaluation that promoted it).

Models are read in chunks of `CHUNK` with a fixed number of queries per chunk, whatever the
number of versions, findings, reviews or checks, so memory stays bounded however large the
registry.
"""

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core import roles
from core.errors import Forbidden
from governance.dossier import coverage
from governance.models import (
    SEVERITY_ORDER,
    UNRESOLVED,
    CheckResult,
    EvaluationPurpose,
    Finding,
    PolicyEvaluation,
    PromotionRequest,
    PromotionStatus,
    Review,
    ReviewDecision,
    StageChange,
)
from governance.policies.clauses import FRAMEWORKS
from registry.models import ModelVersion, RegisteredModel, Stage

CHUNK = 500
# Approvals that expire within this many days are flagged as expiring soon.
EXPIRY_WARNING_DAYS = 30
READERS = (roles.VALIDATOR, roles.RISK_OFFICER, roles.AUDITOR, roles.ADMIN)

COLUMNS = (
    "model",
    "title",
    "risk_tier",
    "owner_team",
    "production_version",
    "in_production_since",
    "last_validation",
    "last_validator",
    *(f"open_findings_{severity}" for severity in reversed(SEVERITY_ORDER)),
    "approvals_expire_on",
    "approvals_expiring_soon",
    *(f"coverage_{framework.key}" for framework in FRAMEWORKS),
)


@dataclass(frozen=True)
class Row:
    model: RegisteredModel
    production: ModelVersion | None
    in_production_since: datetime | None
    last_validation: datetime | None
    last_validator: str
    open_findings: dict[str, int]
    approvals_expire_on: date | None
    approvals_expiring_soon: bool
    coverage: dict[str, float]  # framework key -> percent evidenced

    def values(self) -> list[str]:
        return [
            self.model.name,
            self.model.title,
            self.model.risk_tier,
            self.model.owner_team.name,
            str(self.production.version) if self.production else "",
            self.in_production_since.isoformat() if self.in_production_since else "",
            self.last_validation.isoformat() if self.last_validation else "",
            self.last_validator,
            *(str(self.open_findings.get(s, 0)) for s in reversed(SEVERITY_ORDER)),
            self.approvals_expire_on.isoformat() if self.approvals_expire_on else "",
            "yes" if self.approvals_expiring_soon else "no",
            *(f"{self.coverage[f.key]:.1f}" if f.key in self.coverage else "" for f in FRAMEWORKS),
        ]


def require_reader(user: Any) -> None:
    if not roles.has_role(user, *READERS):
        raise Forbidden(
            "the inventory lists every team's models: validators, risk officers, auditors and "
            "admins read it",
            code="not_an_inventory_reader",
        )


def rows(*, now: datetime, chunk: int = CHUNK) -> Iterator[Row]:
    """Every model, by name, with its inventory facts."""
    last_name = ""
    while True:
        models = list(
            RegisteredModel.objects.filter(name__gt=last_name)
            .select_related("owner_team")
            .order_by("name")[:chunk]
        )
        if not models:
            return
        yield from _chunk(models, now)
        last_name = models[-1].name


def _chunk(models: list[RegisteredModel], now: datetime) -> Iterator[Row]:
    ids = [m.pk for m in models]
    production = {
        v.model_id: v for v in ModelVersion.objects.filter(model_id__in=ids, stage=Stage.PRODUCTION)
    }
    version_ids = [v.pk for v in production.values()]
    since = dict(
        StageChange.objects.filter(model_version_id__in=version_ids, to_stage=Stage.PRODUCTION)
        .order_by("model_version_id", "created_at", "id")
        .values_list("model_version_id", "created_at")
    )  # the latest entry into production wins (ordered last)
    findings: dict[int, Counter[str]] = {}
    for model_id, severity in Finding.objects.filter(
        model_version__model_id__in=ids, status__in=UNRESOLVED
    ).values_list("model_version__model_id", "severity"):
        findings.setdefault(model_id, Counter())[severity] += 1
    validations = _last_validations(version_ids)
    expiries = _approval_expiries(version_ids)
    covered = _coverage(version_ids)
    soon = now + timedelta(days=EXPIRY_WARNING_DAYS)
    for model in models:
        version = production.get(model.pk)
        vid = version.pk if version else None
        validated = validations.get(vid)
        expires = expiries.get(vid)
        yield Row(
            model=model,
            production=version,
            in_production_since=since.get(vid),
            last_validation=validated[0] if validated else None,
            last_validator=validated[1] if validated else "",
            open_findings=dict(findings.get(model.pk, {})),
            approvals_expire_on=expires.date() if expires else None,
            approvals_expiring_soon=bool(expires and expires <= soon),
            coverage=covered.get(vid, {}),
        )


def _last_validations(version_ids: list[int]) -> dict[int, tuple[datetime, str]]:
    found: dict[int, tuple[datetime, str]] = {}
    approvals = (
        Review.objects.filter(
            request__model_version_id__in=version_ids,
            decision=ReviewDecision.APPROVE,
            role=roles.VALIDATOR,
        )
        .order_by("created_at", "id")
        .values_list("request__model_version_id", "created_at", "reviewer__username")
    )
    for version_id, created_at, username in approvals:
        found[version_id] = (created_at, username)  # the newest one stays
    return found


def _approval_expiries(version_ids: list[int]) -> dict[int, datetime]:
    """When the approvals that put each version in production stop being valid: the oldest
    approval of its newest completed request plus the request's validity (none: no expiry)."""
    requests = {
        version_id: (request_id, days)
        for request_id, version_id, days in PromotionRequest.objects.filter(
            model_version_id__in=version_ids,
            status=PromotionStatus.COMPLETED,
            approval_validity_days__isnull=False,
        )
        .order_by("closed_at", "id")
        .values_list("pk", "model_version_id", "approval_validity_days")
    }
    oldest: dict[int, datetime] = {}
    for request_id, created_at in (
        Review.objects.filter(
            request_id__in=[r for r, _ in requests.values()], decision=ReviewDecision.APPROVE
        )
        .order_by("-created_at")
        .values_list("request_id", "created_at")
    ):
        oldest[request_id] = created_at  # the oldest one stays
    return {
        version_id: oldest[request_id] + timedelta(days=days)
        for version_id, (request_id, days) in requests.items()
        if request_id in oldest
    }


def _coverage(version_ids: list[int]) -> dict[int, dict[str, float]]:
    """Coverage per framework of each version's promotion evaluation (its newest)."""
    deciding: dict[int, int] = dict(
        PolicyEvaluation.objects.filter(
            model_version_id__in=version_ids, purpose=EvaluationPurpose.PROMOTION
        )
        .order_by("created_at", "id")
        .values_list("model_version_id", "pk")
    )  # the newest one stays
    checks: dict[int, list[CheckResult]] = {}
    for check in CheckResult.objects.filter(evaluation_id__in=deciding.values()).select_related(
        "policy_version__policy"
    ):
        checks.setdefault(check.evaluation_id, []).append(check)
    return {
        version_id: {f.key: f.percent for f in coverage.of_checks(checks.get(evaluation_id, []))}
        for version_id, evaluation_id in deciding.items()
    }


def csv_chunks(found: Iterator[Row]) -> Iterator[str]:
    """The CSV text, a header then a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, row in enumerate(found, start=1):
        writer.writerow(row.values())
        if n % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

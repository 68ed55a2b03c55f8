"""Findings for service, API, admin and page tests: a version of the team's model and a finding
raised on it through the service (so every row has its audit event)."""

from datetime import date
from typing import Any

from audit.models import AuditEvent
from governance.models import Finding
from governance.services import findings
from registry.models import ModelVersion
from tests.governance import gate_setup as g


def version_of(team: Any, registrant: Any, **fields: Any) -> ModelVersion:
    return g.governed_version(registrant=registrant, team=team, **fields)


def raised(
    by: Any,
    version: ModelVersion,
    owner: Any,
    *,
    severity: str = "high",
    title: str = "Disparity on race above tolerance",
    description: str = "The demographic parity difference on race exceeds 0.1.",
    due_date: date | None = None,
    request: Any = None,
) -> Finding:
    return findings.raise_finding(
        by=by,
        version=version,
        title=title,
        severity=severity,
        description=description,
        owner=owner,
        due_date=due_date,
        request=request,
    )


def finding_events(finding: Finding | None = None) -> list[str]:
    events = AuditEvent.objects.filter(target_type="governance.finding")
    if finding is not None:
        events = events.filter(target_id=str(finding.pk))
    return list(events.order_by("id").values_list("action", flat=True))


def fresh(finding: Finding) -> Finding:
    return Finding.objects.get(pk=finding.pk)

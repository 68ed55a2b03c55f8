"""The model inventory: every model with its production version, last validation, unresolved
findings, approval expiry and regulatory coverage; as CSV from the API and a command."""

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from governance.dossier import coverage, inventory
from governance.models import Review
from governance.services import findings
from tests.factories import RegisteredModelFactory
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

URL = "/api/v1/inventory.csv"


def promoted(team: Any, data_scientist: Any, validator: Any, risk_officer: Any) -> Any:
    """v1 promoted through the shipped high-risk pack; v2 registered after it."""
    v1 = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(v1)
    request = g.approved(v1, requester=data_scientist, reviewers=[validator, risk_officer])
    assert request.status == "completed"
    v2 = g.governed_version(registrant=data_scientist, team=team, model=v1.model)
    return v1, v2


def raise_on(version: Any, by: Any, owner: Any, severity: str) -> Any:
    return findings.raise_finding(
        by=by,
        version=version,
        title=f"{severity} finding",
        severity=severity,
        description="Found in validation.",
        owner=owner,
    )


def table(response: Any) -> dict[str, dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return {row["model"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.fixture
def scene(team: Any, data_scientist: Any, validator: Any, risk_officer: Any) -> Any:
    g.install_default_pack(risk_officer)
    v1, v2 = promoted(team, data_scientist, validator, risk_officer)
    raise_on(v2, validator, data_scientist, "high")
    raise_on(v1, validator, data_scientist, "medium")
    closed = raise_on(v1, validator, data_scientist, "low")
    findings.close(by=validator, finding=closed, note="fixed")
    idle = RegisteredModelFactory(owner_team=team, name="zz-idle", risk_tier="minimal")
    return v1, v2, idle


def test_the_inventory_lists_every_model_with_the_stored_facts(api, scene, auditor, validator):
    v1, _, idle = scene
    response = api(auditor).get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment; filename=" in response["Content-Disposition"]
    rows = table(response)
    assert list(rows) == sorted([v1.model.name, idle.name])
    row = rows[v1.model.name]
    assert (row["risk_tier"], row["owner_team"], row["production_version"]) == (
        "high",
        "credit-risk",
        "1",
    )
    approval = Review.objects.get(request__model_version=v1, reviewer=validator)
    assert row["last_validator"] == "vera"
    assert row["last_validation"] == approval.created_at.isoformat()
    assert (row["open_findings_high"], row["open_findings_medium"], row["open_findings_low"]) == (
        "1",
        "1",
        "0",
    )
    oldest = Review.objects.filter(request__model_version=v1).order_by("created_at").first()
    assert row["approvals_expire_on"] == (oldest.created_at + timedelta(days=30)).date().isoformat()
    assert row["approvals_expiring_soon"] == "yes"  # 30-day approvals: within the warning window
    expected = {f.key: f"{f.percent:.1f}" for f in coverage.of_version(v1.pk)}
    assert expected and all(row[f"coverage_{key}"] == value for key, value in expected.items())
    assert float(row["coverage_eu-ai-act"]) > 0

    empty = rows[idle.name]
    assert empty["production_version"] == "" and empty["last_validation"] == ""
    assert empty["approvals_expiring_soon"] == "no" and empty["coverage_eu-ai-act"] == ""


@pytest.mark.parametrize("who", ["data_scientist", "outsider"])
def test_people_who_do_not_read_every_team_get_403(api, request, scene, who):
    response = api(request.getfixturevalue(who)).get(URL)
    assert response.status_code == 403
    assert not hasattr(response, "streaming_content")


def test_signed_out_is_refused(api, scene):
    assert api(None).get(URL).status_code in (401, 403)


def test_the_queries_do_not_grow_with_the_models(
    api, scene, team, data_scientist, validator, risk_officer, django_assert_max_num_queries
):
    client = api(validator)
    with django_assert_max_num_queries(40) as few:
        assert len(table(client.get(URL))) == 2
    for _ in range(6):
        promoted(team, data_scientist, validator, risk_officer)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(table(client.get(URL))) == 8


def test_models_are_read_in_chunks_with_nothing_lost(scene, team):
    for n in range(5):
        RegisteredModelFactory(owner_team=team, name=f"m-{n}")
    names = [row.model.name for row in inventory.rows(now=timezone.now(), chunk=2)]
    assert names == sorted(names) and len(names) == len(set(names)) == 7


def test_the_command_writes_the_same_csv(scene, auditor, tmp_path, data_scientist):
    out = tmp_path / "inventory.csv"
    call_command("export_inventory", "-o", str(out), "--as", "aldo")
    rows = list(csv.DictReader(out.open()))
    assert [r["model"] for r in rows] == sorted(r["model"] for r in rows) and len(rows) == 2
    assert rows[0]["production_version"] == "1"
    with pytest.raises(CommandError, match="not_an_inventory_reader"):
        call_command("export_inventory", "--as", "dana")

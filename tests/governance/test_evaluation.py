"""The gate fails closed, and what it stores is pinned and immutable.

Runs against the real database (SQLite or PostgreSQL); the database triggers of governance
migration 0004 are exercised with raw SQL, past the ORM.
"""

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from audit import trail
from audit.models import AuditEvent
from governance.models import (
    CheckResult,
    Policy,
    PolicyEvaluation,
    PolicyVersion,
    PromotionStatus,
    StageChange,
)
from governance.models.immutable import ImmutableRecord
from governance.policies.checks.performance import MetricThreshold
from governance.policies.checks.records import ArtifactSafety
from governance.services import evaluation, promotions, stages
from registry.models import Stage
from tests.conftest import requires_postgres
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(team: Any, data_scientist: Any) -> Any:
    return g.governed_version(registrant=data_scientist, team=team)


def raw_policy(
    by: Any, checks: list[Any], *, name: str = "raw", tiers: tuple[str, ...] = ("high",)
) -> PolicyVersion:
    """A policy version stored as-is, bypassing document validation (as a future or corrupted
    document would be), and made the policy's current version."""
    policy = Policy.objects.create(name=name, created_by=by)
    stored = PolicyVersion.objects.create(
        policy=policy,
        version=1,
        title=name,
        document={"name": name, "scope": {}, "checks": checks},
        source="{}",
        source_format="json",
        sha256="0" * 64,
        enabled=True,
        risk_tiers=list(tiers),
        target_stages=["staging", "production"],
        created_by=by,
    )
    Policy.objects.filter(pk=policy.pk).update(current_version=stored)
    return stored


def evaluated_event(stored: PolicyEvaluation) -> AuditEvent:
    return AuditEvent.objects.for_object(stored).get(action="policy.evaluated")


def results_of(stored: PolicyEvaluation) -> dict[str, CheckResult]:
    return {c.check_id: c for c in stored.checks.order_by("position")}


# --- failing closed --------------------------------------------------------------------------


def test_an_unknown_check_type_is_a_failing_result_with_its_reason(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    g.full_evidence(version)
    stored_policy = raw_policy(
        risk_officer,
        [
            {
                "id": "safe",
                "type": "artifact_safety",
                "title": "safe",
                "params": {"allowed_formats": ["skops"]},
                "clauses": [],
            },
            {
                "id": "mind",
                "type": "telepathy",
                "title": "reads minds",
                "params": {},
                "clauses": ["eu-ai-act:art-9"],
            },
        ],
    )

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert not stored.passed
    assert (stored.check_count, stored.failed_count) == (2, 1)
    checks = results_of(stored)
    assert checks["safe"].passed
    unknown = checks["mind"]
    assert not unknown.passed
    assert (unknown.check_type, unknown.title, unknown.position) == ("telepathy", "reads minds", 1)
    assert unknown.reason == (
        "unknown check type 'telepathy': this ModelGate cannot evaluate it, so the gate stays closed"
    )
    assert unknown.policy_version == stored_policy
    assert unknown.clauses == ["eu-ai-act:art-9"]
    assert evaluated_event(stored).data["failed_checks"] == ["raw/mind"]


def test_a_stored_check_without_id_or_type_still_fails_closed_with_a_row(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    raw_policy(risk_officer, [{"params": {}}, {"id": "x" * 150, "type": "y" * 150}])

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert not stored.passed
    first, second = stored.checks.order_by("position")
    assert (first.check_id, first.check_type, first.passed) == ("check-0", "", False)
    assert first.reason.startswith("unknown check type None")
    assert (len(second.check_id), len(second.check_type), second.passed) == (100, 60, False)


def test_a_stored_check_missing_a_required_parameter_fails_closed(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    raw_policy(risk_officer, [{"id": "auc", "type": "metric_threshold", "params": {"min": 0.8}}])

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    (result,) = stored.checks.all()
    assert not stored.passed and not result.passed
    assert result.reason == "the check raised KeyError: 'metric'; failing closed"


def test_a_stored_policy_without_checks_cannot_pass(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    empty = raw_policy(risk_officer, [])

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert not stored.passed
    (result,) = stored.checks.all()
    assert (result.check_id, result.passed, result.policy_version) == (
        "policy-checks",
        False,
        empty,
    )
    assert result.reason == "raw v1 has no checks: a policy that checks nothing cannot pass"


def boom(self: Any, context: Any) -> Any:
    raise RuntimeError("the metrics store is on fire")


def test_a_check_that_raises_is_a_failing_verdict_and_the_others_still_run(
    version: Any, data_scientist: Any, risk_officer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    g.full_evidence(version)
    g.simple_policy(risk_officer)
    monkeypatch.setattr(MetricThreshold, "evaluate", boom)

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert not stored.passed
    checks = results_of(stored)
    assert checks["auc"].reason == (
        "the check raised RuntimeError: the metrics store is on fire; failing closed"
    )
    assert not checks["auc"].passed
    assert checks["safe"].passed
    assert not checks["approvals"].passed  # a dry run has no request
    assert evaluated_event(stored).data["failed_checks"] == [
        "test-policy/auc",
        "test-policy/approvals",
    ]


def test_a_check_that_returns_something_other_than_a_verdict_fails(
    version: Any, data_scientist: Any, risk_officer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    g.simple_policy(risk_officer)
    monkeypatch.setattr(ArtifactSafety, "evaluate", lambda self, context: True)

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert results_of(stored)["safe"].reason == "the check returned bool, not a verdict"
    assert not results_of(stored)["safe"].passed


def test_a_raising_check_blocks_the_promotion_gate_and_a_retry_passes_once_it_is_fixed(
    version: Any,
    data_scientist: Any,
    validator: Any,
    risk_officer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    g.full_evidence(version)
    g.simple_policy(risk_officer)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification="better AUC"
    )
    monkeypatch.setattr(MetricThreshold, "evaluate", boom)

    promotions.review(by=validator, request=request, decision="approve", comment="looks right")

    request.refresh_from_db()
    version.refresh_from_db()
    assert request.status == PromotionStatus.APPROVED
    assert request.status_reason == "approved, but the policy gate is blocked"
    assert request.blocking == [
        {
            "policy": "test-policy",
            "check": "auc",
            "type": "metric_threshold",
            "title": "roc_auc >= 0.8",
            "reason": "the check raised RuntimeError: the metrics store is on fire; failing closed",
        }
    ]
    assert version.stage == Stage.NONE
    assert not StageChange.objects.filter(model_version=version).exists()
    gate = PolicyEvaluation.objects.get(promotion_request=request, purpose="promotion")
    assert not gate.passed
    blocked = AuditEvent.objects.for_object(request).get(action="promotion.blocked")
    assert blocked.data["evaluation"] == gate.pk

    monkeypatch.undo()
    promotions.promote(by=data_scientist, request=request)

    request.refresh_from_db()
    version.refresh_from_db()
    assert request.status == PromotionStatus.COMPLETED
    assert version.stage == Stage.PRODUCTION
    assert trail.verify_chain().valid


def test_without_an_applicable_policy_the_gate_fails_with_policy_coverage(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    g.full_evidence(version)
    g.simple_policy(risk_officer, tiers=("minimal",))  # the version is high risk

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert not stored.passed
    assert (stored.check_count, stored.failed_count) == (1, 1)
    assert list(stored.policy_versions.all()) == []
    (result,) = stored.checks.all()
    assert (result.check_id, result.check_type, result.policy_version) == (
        "policy-coverage",
        "policy_coverage",
        None,
    )
    assert result.reason == (
        "no enabled policy covers risk tier 'high' and target stage 'production': without a "
        "policy nothing can be promoted"
    )
    assert result.observed == {"risk_tier": "high", "target_stage": "production"}
    assert evaluated_event(stored).data["failed_checks"] == ["gate/policy-coverage"]


def test_a_disabled_policy_does_not_apply(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    g.simple_policy(risk_officer)
    from governance.services import policies

    policies.save_policy(
        by=risk_officer,
        source={
            "name": "test-policy",
            "enabled": False,
            "scope": {"risk_tiers": ["high"], "target_stages": ["production"]},
            "checks": [{"id": "safe", "type": "artifact_safety"}],
        },
    )

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert [c.check_id for c in stored.checks.all()] == ["policy-coverage"]


# --- pinned and audited ----------------------------------------------------------------------


def test_an_evaluation_is_pinned_to_what_it_used(
    team: Any, data_scientist: Any, risk_officer: Any
) -> None:
    g.install_default_pack(risk_officer)
    current = g.governed_version(registrant=data_scientist, team=team)
    # A production version with its own performance evidence: the baseline.
    baseline = g.governed_version(registrant=data_scientist, team=team, model=current.model)
    baseline_perf = g.evidence(baseline, "performance")
    with transaction.atomic():
        stages.move(baseline, Stage.PRODUCTION, by=risk_officer, kind="promotion")
    used = g.full_evidence(current)
    g.evidence(current, "performance", artifact_sha256="f" * 64)  # another digest: not used

    stored = evaluation.evaluate(current, "production", by=data_scientist)

    high = PolicyVersion.objects.get(policy__name="high-risk")
    assert list(stored.policy_versions.all()) == [high]
    assert stored.artifact_sha256 == current.artifact_sha256
    assert stored.baseline_version == baseline
    assert set(stored.assessments.values_list("pk", flat=True)) == {a.pk for a in used} | {
        baseline_perf.pk
    }
    assert (stored.risk_tier, stored.target_stage, stored.purpose) == (
        "high",
        "production",
        "dry_run",
    )
    assert stored.evaluated_by == data_scientist
    checks = list(stored.checks.order_by("position"))
    assert [c.check_id for c in checks] == [c["id"] for c in high.checks]
    assert [c.clauses for c in checks] == [c["clauses"] for c in high.checks]
    assert all(c.policy_version == high for c in checks)
    assert stored.check_count == len(checks)
    assert stored.failed_count == sum(not c.passed for c in checks) == 1
    assert [c.check_id for c in checks if not c.passed] == ["approvals"]
    roc = next(c for c in checks if c.check_id == "roc-auc")
    assert roc.observed == {"roc_auc": 0.9, "production": 0.9, "regression": 0.0}
    assert roc.evidence["assessments"] == [used[0].pk, baseline_perf.pk]

    event = evaluated_event(stored)
    assert event.actor_username == "dana"
    assert event.data["passed"] is False
    assert event.data["artifact_sha256"] == current.artifact_sha256
    assert event.data["policy_versions"] == [f"high-risk v1 ({high.sha256[:12]})"]
    assert sorted(event.data["assessments"]) == sorted([a.pk for a in used] + [baseline_perf.pk])
    assert event.data["failed_checks"] == ["high-risk/approvals"]


def test_a_failing_evaluation_writes_its_failed_checks_to_the_audit_trail(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    g.install_default_pack(risk_officer)
    g.evidence(version, "performance", g.performance_results(roc_auc=0.7))

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    failed = evaluated_event(stored).data["failed_checks"]
    assert failed == [
        f"high-risk/{c.check_id}" for c in stored.checks.filter(passed=False).order_by("position")
    ]
    assert {
        "high-risk/roc-auc",
        "high-risk/fairness-demographic-parity",
        "high-risk/explainability",
    } <= set(failed)
    roc = stored.checks.get(check_id="roc-auc")
    assert roc.reason == "roc_auc 0.7 is below the minimum 0.8"
    assert trail.verify_chain().valid


def test_blocking_reasons_list_the_failed_checks_of_an_evaluation(
    version: Any, data_scientist: Any, risk_officer: Any
) -> None:
    g.simple_policy(risk_officer)

    stored = evaluation.evaluate(version, "production", by=data_scientist)

    assert evaluation.blocking_reasons(stored) == [
        {
            "policy": "test-policy",
            "check": "auc",
            "type": "metric_threshold",
            "title": "roc_auc >= 0.8",
            "reason": "no succeeded performance assessment of this artifact on dataset 'adult-eval'",
        },
        {
            "policy": "test-policy",
            "check": "approvals",
            "type": "approvals",
            "title": "approved by 1 validator",
            "reason": "no promotion request yet: needs approval by 1 validator",
        },
    ]


# --- immutable -------------------------------------------------------------------------------


@pytest.fixture
def stored(version: Any, data_scientist: Any, risk_officer: Any) -> PolicyEvaluation:
    g.simple_policy(risk_officer)
    return evaluation.evaluate(version, "production", by=data_scientist)


def refused_sql(sql: str, params: list[Any]) -> str:
    with (
        pytest.raises(DatabaseError) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    return str(caught.value)


def test_the_orm_refuses_to_change_or_delete_an_evaluation_and_its_results(
    stored: PolicyEvaluation,
) -> None:
    result = stored.checks.first()
    stored.passed = True
    result.passed = True

    for row in (stored, result):
        with pytest.raises(ImmutableRecord):
            row.save()
        with pytest.raises(ImmutableRecord):
            row.delete()

    stored.refresh_from_db()
    assert not stored.passed
    assert CheckResult.objects.filter(evaluation=stored, passed=True).count() == 1  # "safe"


def test_the_orm_refuses_to_change_or_delete_a_policy_version(stored: PolicyEvaluation) -> None:
    policy_version = stored.policy_versions.get()
    policy_version.enabled = False

    with pytest.raises(ImmutableRecord):
        policy_version.save()
    with pytest.raises(ImmutableRecord):
        policy_version.delete()
    assert PolicyVersion.objects.get(pk=policy_version.pk).enabled


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("governance_policyevaluation", "passed", True),
        ("governance_checkresult", "passed", True),
        ("governance_checkresult", "reason", "all good"),
        ("governance_policyversion", "enabled", False),
        ("governance_policyversion", "document", "{}"),
    ],
)
def test_the_database_refuses_a_raw_update(
    stored: PolicyEvaluation, table: str, column: str, value: Any
) -> None:
    # Table and column names come from the parametrize list above, not from input.
    message = refused_sql(f"UPDATE {table} SET {column} = %s", [value])  # noqa: S608

    assert f"{table} is immutable evidence: UPDATE refused" in message
    stored.refresh_from_db()
    assert not stored.passed
    assert stored.checks.get(check_id="auc").reason.startswith("no succeeded performance")


def test_the_database_refuses_a_bulk_orm_update(stored: PolicyEvaluation) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        CheckResult.objects.filter(evaluation=stored).update(passed=True)
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyEvaluation.objects.filter(pk=stored.pk).update(passed=True)

    assert not PolicyEvaluation.objects.get(pk=stored.pk).passed


def test_the_database_refuses_to_repoint_what_an_evaluation_is_pinned_to(
    stored: PolicyEvaluation, risk_officer: Any
) -> None:
    other = g.simple_policy(risk_officer, name="other-policy")

    message = refused_sql(
        "UPDATE governance_policyevaluation_policy_versions SET policyversion_id = %s "
        "WHERE policyevaluation_id = %s",
        [other.pk, stored.pk],
    )

    assert "governance_policyevaluation_policy_versions is immutable evidence" in message
    assert list(stored.policy_versions.values_list("policy__name", flat=True)) == ["test-policy"]


def test_the_database_refuses_a_new_pin_once_the_results_are_written(
    stored: PolicyEvaluation, risk_officer: Any, data_scientist: Any
) -> None:
    other = g.simple_policy(risk_officer, name="other-policy")
    late = g.evidence(stored.model_version, "performance", by=data_scientist)

    with (
        pytest.raises(DatabaseError, match="pins of an evaluation are fixed"),
        transaction.atomic(),
    ):
        stored.policy_versions.add(other)
    with (
        pytest.raises(DatabaseError, match="pins of an evaluation are fixed"),
        transaction.atomic(),
    ):
        stored.assessments.add(late)

    assert list(stored.policy_versions.values_list("policy__name", flat=True)) == ["test-policy"]
    assert not stored.assessments.filter(pk=late.pk).exists()


@requires_postgres
@pytest.mark.parametrize(
    "table",
    [
        "governance_checkresult",
        "governance_policyevaluation_policy_versions",
        "governance_policyevaluation_assessments",
    ],
)
def test_on_postgresql_the_database_refuses_a_raw_delete(
    stored: PolicyEvaluation, table: str
) -> None:
    g.full_evidence(stored.model_version)
    pinned = evaluation.evaluate(stored.model_version, "production", by=stored.evaluated_by)
    assert pinned.assessments.exists()

    message = refused_sql(f"DELETE FROM {table}", [])  # noqa: S608

    assert f"{table} is immutable evidence: DELETE refused" in message


@requires_postgres
def test_on_postgresql_clearing_an_evaluations_pins_is_refused(stored: PolicyEvaluation) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        stored.policy_versions.clear()

    assert stored.policy_versions.count() == 1


def test_evaluations_accumulate_and_the_earlier_ones_keep_their_verdicts(
    stored: PolicyEvaluation, data_scientist: Any
) -> None:
    g.full_evidence(stored.model_version)

    later = evaluation.evaluate(stored.model_version, "production", by=data_scientist)

    first = results_of(PolicyEvaluation.objects.get(pk=stored.pk))
    second = results_of(later)
    assert not first["auc"].passed and second["auc"].passed
    assert PolicyEvaluation.objects.filter(model_version=stored.model_version).count() == 2

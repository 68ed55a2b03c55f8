"""The policy and promotion commands: thin wrappers over the services, with the same refusals
(a CommandError naming the problem and its code, so manage.py exits non-zero)."""

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import (
    Policy,
    PolicyEvaluation,
    PolicyVersion,
    PromotionRequest,
    Review,
    StageChange,
)
from governance.services import policies, promotions
from registry.services import models as model_service
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

POLICY_YAML = """\
name: cli-written
title: Written on the command line
scope:
  risk_tiers: [minimal, limited, high]
  target_stages: [staging, production]
checks:
  - id: safe
    type: artifact_safety
  - id: auc
    type: metric_threshold
    metric: roc_auc
    min: 0.75
"""


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as error:
        run(*args)
    return error.value


def status(request: PromotionRequest) -> str:
    return PromotionRequest.objects.get(pk=request.pk).status


@pytest.fixture
def pack(risk_officer):
    g.install_default_pack(risk_officer)


@pytest.fixture
def version(pack, team, data_scientist):
    """A high-risk version with all the evidence the default pack asks for."""
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)
    return version


def ref(version) -> tuple[str, str]:
    return version.model.name, str(version.version)


def open_request(version, by) -> PromotionRequest:
    return promotions.open_request(
        by=by, version=version, target_stage="production", justification="release"
    )


def promote_through_gate(version, *, requester, validator, risk_officer) -> PromotionRequest:
    request = open_request(version, requester)
    promotions.review(by=validator, request=request, decision="approve", comment="ok")
    promotions.review(by=risk_officer, request=request, decision="approve", comment="ok")
    version.refresh_from_db()
    assert version.stage == "production"
    return request


# --- install_policies and save_policy -------------------------------------------------------------


def test_install_policies_saves_the_pack_once(risk_officer):
    output = run("install_policies", "--as", "rita")

    assert set(Policy.objects.values_list("name", flat=True)) == {
        "minimal-risk",
        "limited-risk",
        "high-risk",
    }
    assert "saved high-risk v1" in output and "risk tiers high" in output
    assert "installed and unchanged" in run("install_policies", "--as", "rita")
    assert PolicyVersion.objects.count() == 3


def test_install_policies_is_refused_to_a_validator_and_to_an_empty_directory(
    validator, risk_officer, tmp_path
):
    assert "[permission_denied]" in str(refused("install_policies", "--as", "vera"))
    error = refused("install_policies", "--as", "rita", "--pack-dir", str(tmp_path))
    assert "holds no *.yaml policy documents" in str(error)
    assert not Policy.objects.exists()


def test_save_policy_saves_a_yaml_file_then_its_next_version(risk_officer, tmp_path: Path):
    path = tmp_path / "cli.yaml"
    path.write_text(POLICY_YAML)

    output = run("save_policy", str(path), "--as", "rita", "--note", "first", "--new")

    first = PolicyVersion.objects.get(policy__name="cli-written")
    assert "saved cli-written v1: 2 checks" in output and first.sha256 in output
    assert (first.source, first.source_format, first.change_note) == (POLICY_YAML, "yaml", "first")

    as_json = tmp_path / "cli.json"
    document = {
        "name": "cli-written",
        "title": "Renamed",
        "scope": {"risk_tiers": ["high"], "target_stages": ["production"]},
        "checks": [{"id": "safe", "type": "artifact_safety"}],
    }
    as_json.write_text(json.dumps(document))
    output = run("save_policy", str(as_json), "--as", "rita", "--update", "cli-written")

    second = Policy.objects.get(name="cli-written").current_version
    assert (second.version, second.source_format, second.title) == (2, "json", "Renamed")
    assert "saved cli-written v2" in output
    assert AuditEvent.objects.filter(action="policy.version_created").count() == 2


def test_save_policy_reads_standard_input(risk_officer, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(POLICY_YAML))
    assert "saved cli-written v1" in run("save_policy", "-", "--as", "rita")


@pytest.mark.parametrize(
    ("args", "source", "words"),
    [
        (
            (),
            POLICY_YAML.replace("min: 0.75", "min: high"),
            "checks[1] (auc).min: must be a number",
        ),
        ((), POLICY_YAML.replace("scope:", "scopes:"), "scopes: is not a policy field"),
        ((), "name: [", "source: is not valid YAML"),
        (("--update", "other"), POLICY_YAML, "the document is named 'cli-written'"),
        (("--update", "cli-written"), POLICY_YAML, "no policy named 'cli-written'"),
    ],
)
def test_save_policy_refuses_a_bad_document_naming_the_field(
    risk_officer, tmp_path: Path, args, source, words
):
    path = tmp_path / "bad.yaml"
    path.write_text(source)

    error = refused("save_policy", str(path), "--as", "rita", *args)

    assert words in str(error)
    assert not Policy.objects.exists()
    assert not AuditEvent.objects.exists()


def test_save_policy_refuses_a_writer_without_the_role_and_a_duplicate(
    risk_officer, data_scientist, tmp_path: Path
):
    path = tmp_path / "cli.yaml"
    path.write_text(POLICY_YAML)
    assert "[permission_denied]" in str(refused("save_policy", str(path), "--as", "dana"))
    run("save_policy", str(path), "--as", "rita")
    assert "[policy_unchanged]" in str(refused("save_policy", str(path), "--as", "rita"))
    assert "[policy_exists]" in str(refused("save_policy", str(path), "--as", "rita", "--new"))
    assert "cannot read" in str(refused("save_policy", str(tmp_path / "no.yaml"), "--as", "rita"))
    assert PolicyVersion.objects.count() == 1


# --- evaluate -------------------------------------------------------------------------------------


def test_evaluate_prints_every_check_with_its_verdict_and_exits_0(version, data_scientist):
    output = run("evaluate", *ref(version), "--as", "dana")

    evaluation = PolicyEvaluation.objects.get()
    assert (evaluation.purpose, evaluation.target_stage) == ("dry_run", "production")
    lines = output.splitlines()
    assert lines[0] == (
        f"evaluation #{evaluation.pk} of {version} for production (dry run): "
        f"BLOCKED: 1 of {evaluation.check_count} checks fail"
    )
    assert "high-risk v1 (sha256" in output and version.artifact_sha256 in output
    verdicts = [line for line in lines if line.startswith(("  PASS", "  FAIL"))]
    assert len(verdicts) == evaluation.check_count == 10
    for check in evaluation.checks.all():
        word = "PASS" if check.passed else "FAIL"
        assert f"  {word}  high-risk/{check.check_id} ({check.check_type}): {check.reason}" in lines
    assert "  FAIL  high-risk/approvals (approvals): no promotion request yet" in output
    assert '        threshold: {"roles": {"risk officer": 1, "validator": 1}}' in lines


def test_evaluate_with_fail_on_block_exits_2_when_blocked(version, data_scientist):
    error = refused("evaluate", *ref(version), "--as", "dana", "--fail-on-block")

    assert error.returncode == 2
    assert f"{version} is blocked from production: 1 of 10 checks fail" in str(error)
    assert PolicyEvaluation.objects.count() == 1


def test_evaluate_with_fail_on_block_exits_0_when_every_check_passes(
    team, data_scientist, risk_officer
):
    policies.save_policy(by=risk_officer, source=POLICY_YAML)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(version, "performance")

    output = run("evaluate", *ref(version), "--as", "dana", "--stage", "staging", "--fail-on-block")

    assert "PASSED: every check passes" in output
    assert output.count("  PASS  cli-written/") == 2


def test_evaluate_refuses_outside_the_team_and_an_unknown_version(version, other_data_scientist):
    assert "[permission_denied]" in str(refused("evaluate", *ref(version), "--as", "omar"))
    error = refused("evaluate", version.model.name, "99", "--as", "omar")
    assert f"model {version.model.name!r} has no version 99 [not_found]" in str(error)
    assert not PolicyEvaluation.objects.exists()


# --- request_promotion, review_request, promote, withdraw_request ---------------------------------


def test_request_review_review_promotes_the_version(
    version, data_scientist, validator, risk_officer
):
    output = run(
        "request_promotion", *ref(version), "--as", "dana", "--justification", "first release"
    )

    request = PromotionRequest.objects.get()
    assert f"opened request #{request.pk}" in output
    assert "required approvals: 1 validator, 1 risk officer; given: none yet" in output
    assert "  FAIL  high-risk/approvals" in output  # the reviewers' first look

    output = run("review_request", str(request.pk), "--as", "vera", "--approve", "--comment", "ok")
    assert f"approve by vera (validator) on request #{request.pk}" in output
    assert "status open" in output and "given: vera (validator)" in output

    output = run(
        "review_request", str(request.pk), "--as", "rita", "--approve", "--comment", "accepted"
    )
    assert "status completed" in output
    assert f"{version} is now in production" in output
    version.refresh_from_db()
    assert version.stage == "production"


def test_request_promotion_refusals(version, data_scientist, validator):
    error = refused("request_promotion", *ref(version), "--as", "vera", "--justification", "j")
    assert "[permission_denied]" in str(error)
    assert AuditEvent.objects.filter(action="promotion.request_refused").count() == 1
    assert "a justification is required [invalid]" in str(
        refused("request_promotion", *ref(version), "--as", "dana")
    )
    run("request_promotion", *ref(version), "--as", "dana", "--justification", "j")
    error = refused("request_promotion", *ref(version), "--as", "dana", "--justification", "j")
    assert "[duplicate_request]" in str(error)
    assert PromotionRequest.objects.count() == 1


def test_self_approval_on_the_command_line_is_refused_and_audited(version, data_scientist):
    request = open_request(version, data_scientist)

    error = refused(
        "review_request", str(request.pk), "--as", "dana", "--approve", "--comment", "x"
    )

    assert "separation of duties" in str(error) and "[self_review]" in str(error)
    assert not Review.objects.exists()
    assert AuditEvent.objects.get(action="promotion.refused").data["code"] == "self_review"


def test_review_request_other_refusals(version, data_scientist, validator, auditor):
    request = open_request(version, data_scientist)
    assert "a comment is required" in str(
        refused("review_request", str(request.pk), "--as", "vera", "--approve")
    )
    assert "[not_a_reviewer]" in str(
        refused("review_request", str(request.pk), "--as", "aldo", "--approve", "--comment", "x")
    )
    assert "--approve" in str(refused("review_request", str(request.pk), "--as", "vera"))
    assert "no promotion request #999 [not_found]" in str(
        refused("review_request", "999", "--as", "vera", "--approve", "--comment", "x")
    )
    run("review_request", str(request.pk), "--as", "vera", "--reject", "--comment", "too thin")
    assert status(request) == "rejected"
    assert "[already_reviewed]" in str(
        refused("review_request", str(request.pk), "--as", "vera", "--approve", "--comment", "x")
    )


def test_promote_retries_the_gate_once_what_blocked_it_is_fixed(
    version, data_scientist, validator, risk_officer, auditor
):
    model = version.model
    model.limitations = ""
    model.save(update_fields=["limitations"])
    request = open_request(version, data_scientist)
    promotions.review(by=validator, request=request, decision="approve", comment="ok")
    output = run("review_request", str(request.pk), "--as", "rita", "--approve", "--comment", "ok")
    assert "status approved" in output and "blocked by:" in output
    assert "high-risk/model-card:" in output

    error = refused("promote", str(request.pk), "--as", "dana")
    assert "[gate_blocked]" in str(error) and "limitations" in str(error)
    assert "[permission_denied]" in str(refused("promote", str(request.pk), "--as", "aldo"))

    model_service.update_model(model, by=data_scientist, limitations="US census 1994 only")
    output = run("promote", str(request.pk), "--as", "dana")

    assert f"request #{request.pk}: completed" in output
    version.refresh_from_db()
    assert version.stage == "production"
    assert "[request_not_approved]" in str(refused("promote", str(request.pk), "--as", "dana"))


def test_withdraw_request_is_the_requesters(version, data_scientist, validator):
    request = open_request(version, data_scientist)
    assert "[permission_denied]" in str(
        refused("withdraw_request", str(request.pk), "--as", "vera")
    )
    assert status(request) == "open"

    output = run("withdraw_request", str(request.pk), "--as", "dana", "--reason", "retraining")

    assert f"request #{request.pk}: withdrawn" in output and "retraining" in output
    assert "[request_not_open]" in str(refused("withdraw_request", str(request.pk), "--as", "dana"))


# --- demote, rollback, stage_history --------------------------------------------------------------


@pytest.fixture
def two_releases(version, team, data_scientist, validator, risk_officer):
    """v1 promoted, then replaced in production by v2; the moments between, for --at."""
    moments = [timezone.now()]
    promote_through_gate(
        version, requester=data_scientist, validator=validator, risk_officer=risk_officer
    )
    moments.append(timezone.now())
    second = g.governed_version(registrant=data_scientist, team=team, model=version.model)
    g.full_evidence(second)
    promote_through_gate(
        second, requester=data_scientist, validator=validator, risk_officer=risk_officer
    )
    moments.append(timezone.now())
    version.refresh_from_db()
    assert version.stage == "archived"
    return version, second, moments


def test_demote_archives_a_production_version_with_its_reason(two_releases, risk_officer):
    _, second, _ = two_releases

    output = run("demote", *ref(second), "--as", "rita", "--reason", "drift")

    second.refresh_from_db()
    assert second.stage == "archived"
    change = StageChange.objects.get(kind="demotion")
    assert (
        f"{second}: production -> archived (stage change #{change.pk}, demotion): drift" in output
    )


def test_demote_refusals(two_releases, data_scientist, risk_officer):
    first, second, _ = two_releases
    assert "[permission_denied]" in str(
        refused("demote", *ref(second), "--as", "dana", "--reason", "x")
    )
    assert "a reason is required" in str(refused("demote", *ref(second), "--as", "rita"))
    assert "[not_demotable]" in str(refused("demote", *ref(first), "--as", "rita", "--reason", "x"))
    second.refresh_from_db()
    assert second.stage == "production"
    assert AuditEvent.objects.filter(action="promotion.demotion_refused").count() == 2


def test_rollback_asks_to_repromote_the_previous_production_version(two_releases, data_scientist):
    first, _, _ = two_releases

    output = run("rollback", first.model.name, "--as", "dana", "--justification", "v2 misbehaves")

    request = PromotionRequest.objects.get(is_rollback=True)
    assert request.model_version == first and request.target_stage == "production"
    assert f"opened rollback request #{request.pk} for {first}" in output
    assert "archived -> production (rollback), status open" in output


def test_rollback_refusals(version, data_scientist, validator):
    assert "[nothing_to_roll_back]" in str(
        refused("rollback", version.model.name, "--as", "dana", "--justification", "j")
    )
    assert "no model named 'nope' [not_found]" in str(
        refused("rollback", "nope", "--as", "dana", "--justification", "j")
    )


def test_stage_history_lists_every_change_oldest_first(two_releases, auditor):
    first, second, _ = two_releases

    lines = run("stage_history", first.model.name, "--as", "aldo").splitlines()

    assert len(lines) == 3
    assert f"  {first}  none -> production  promotion  by rita  request #" in lines[0]
    assert f"  {first}  production -> archived  replaced  by rita" in lines[1]
    assert f"  {second}  none -> production  promotion  by rita" in lines[2]


def test_stage_history_at_a_time_names_the_version_then_in_production(two_releases, auditor):
    first, second, (before, between, after) = two_releases
    model = first.model.name
    first_request = PromotionRequest.objects.get(model_version=first)

    def at(moment) -> str:
        return run("stage_history", model, "--as", "aldo", "--at", moment.isoformat())

    assert f"no version of {model} was in production" in at(before)
    assert f"{first} was in production" in at(between)
    assert f"under request #{first_request.pk}" in at(between)
    assert f"{second} was in production" in at(after)
    assert f"{second} was in production" in at(after + timedelta(days=365))
    archived = run(
        "stage_history", model, "--as", "aldo", "--at", after.isoformat(), "--stage", "archived"
    )
    assert f"{first} was in archived" in archived
    naive = after.astimezone(timezone.get_default_timezone()).replace(tzinfo=None)
    assert f"{second} was in production" in at(naive)


def test_stage_history_refusals(two_releases, outsider, auditor):
    first, _, _ = two_releases
    assert "[permission_denied]" in str(refused("stage_history", first.model.name, "--as", "otto"))
    assert "not an ISO 8601 time" in str(
        refused("stage_history", first.model.name, "--as", "aldo", "--at", "last tuesday")
    )
    assert "[not_found]" in str(refused("stage_history", "nope", "--as", "aldo"))

"""manage.py demo on the test database: real data, a real model, the real audit trail."""

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token

from audit import trail
from audit.models import AuditEvent
from core import roles
from core.models import Team
from governance.models import (
    Finding,
    PolicyEvaluation,
    PolicyVersion,
    PromotionRequest,
    StageChange,
)
from registry import storage
from registry.artifacts import load_model
from registry.models import Dataset, DatasetVersion, LineageEdge, ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db

TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", "--no-serve", *args, stdout=out)
    return out.getvalue()


def counts() -> tuple[int, ...]:
    kinds = (User, Team, Token, Dataset, DatasetVersion, RegisteredModel, ModelVersion, AuditEvent)
    return tuple(kind.objects.count() for kind in kinds)


def stored_frame(version: DatasetVersion) -> pd.DataFrame:
    with storage.verified_copy(version.file_key, sha256=version.sha256, size=version.size) as path:
        return pd.read_csv(path)


def test_the_demo_loads_users_data_and_a_real_model_with_its_lineage() -> None:
    output = demo()

    expected_roles = {
        "dana": roles.DATA_SCIENTIST,
        "vera": roles.VALIDATOR,
        "rita": roles.RISK_OFFICER,
        "aldo": roles.AUDITOR,
        "ada": roles.ADMIN,
    }
    for username, role in expected_roles.items():
        user = User.objects.get(username=username)
        assert roles.roles_of(user) == {role}
        assert user.is_staff
        assert user.is_superuser == (username == "ada")
        # The table printed once holds a working password and the user's API token.
        row = re.search(rf"^\| {username} +\| {role} +\| (\S+) +\| (\w+) +\|$", output, re.M)
        assert row is not None, f"no credentials row for {username}"
        assert user.check_password(row.group(1))
        assert Token.objects.get(user=user).key == row.group(2)
    team = Team.objects.get(name="credit-risk")
    assert set(team.members.values_list("username", flat=True)) == {"dana", "ada"}

    train = DatasetVersion.objects.get(dataset__name="adult-train", version=1)
    test = DatasetVersion.objects.get(dataset__name="adult-test", version=1)
    assert (train.row_count, test.row_count) == (32_561, 16_281)
    for version in (train, test):
        assert version.target_column == "income"
        assert version.sensitive_features == ["sex", "race"]
        assert len(version.schema) == 15

    model = RegisteredModel.objects.get(name="adult-income")
    assert (model.risk_tier, model.owner_team, model.created_by.username) == (
        "high",
        team,
        "dana",
    )
    assert model.intended_use and model.limitations and "demo" in model.tags
    version = ModelVersion.objects.get(model=model, version=1)
    assert (version.version, version.artifact_format, version.is_unsafe) == (1, "skops", False)
    assert version.code_repository == str(settings.BASE_DIR)
    assert version.code_commit
    assert version.parameters["positive_label"] == ">50K"
    assert version.metrics["accuracy"] > 0.8
    assert version.metrics["roc_auc"] > 0.85

    # The stored artifact, loaded the way assessments will load it, reproduces the recorded
    # metric on the stored test file.
    frame = stored_frame(test)
    y_true = (frame.pop("income") == ">50K").astype(int).to_numpy()
    with storage.verified_copy(
        version.artifact_key, sha256=version.artifact_sha256, size=version.artifact_size
    ) as path:
        loaded = load_model(
            path, "skops", trusted_types=settings.MODELGATE_SKOPS_TRUSTED_TYPES, allow_pickle=False
        )
    assert loaded.feature_names == version.feature_names == list(frame.columns)
    assert loaded.classes_ == [0, 1]
    predicted = loaded.predict(frame)
    assert np.mean(predicted == y_true) == pytest.approx(version.metrics["accuracy"], abs=1e-12)

    edges = {
        (edge.kind, str(edge.object))
        for edge in LineageEdge.objects.filter(subject_model_version=version)
    }
    assert edges == {("trained_on", "adult-train:1"), ("evaluated_on", "adult-test:1")}

    assert_governance_story(output, model)

    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("core.user.created") == 5
    assert actions.count("registry.dataset_version.registered") == 2
    assert actions.count("registry.version.registered") == 2
    assert actions.count("registry.lineage.edge_added") == 5  # v2 also derived_from v1
    assert actions.count("promotion.completed") == 1
    assert not any("password" in str(event.data) for event in AuditEvent.objects.all())
    result = trail.verify_chain()
    assert result.valid and result.event_count == len(actions)
    assert f"Audit chain: valid ({len(actions)} events" in output
    assert "/api/v1/models/adult-income/versions/1/lineage/" in output


def assert_governance_story(output: str, model: RegisteredModel) -> None:
    """v1 is blocked by the fairness check on sex; the mitigated v2 passes, is approved by the
    validator and the risk officer, and reaches production through the gate."""
    v1, v2 = ModelVersion.objects.filter(model=model).order_by("version")
    assert v2.parent == v1 and v2.parameters["mitigation"]["sensitive_feature"] == "sex"
    assert (
        PolicyVersion.objects.get(policy__name="high-risk", version=2).created_by.username == "rita"
    )

    blocked = PolicyEvaluation.objects.filter(model_version=v1, purpose="dry_run").get()
    failing = {c.check_id: c.reason for c in blocked.checks.filter(passed=False)}
    assert set(failing) == {"fairness-sex", "approvals"}
    assert "demographic_parity_difference for sex is 0.17" in failing["fairness-sex"]
    assert f"FAIL fairness-sex: {failing['fairness-sex']}" in output

    (finding,) = Finding.objects.filter(model_version=v1)
    assert (finding.severity, finding.status, finding.raised_by.username) == (
        "high",
        "closed",
        "vera",
    )
    assert (finding.owner.username, finding.answered_by.username) == ("dana", "dana")
    assert list(
        AuditEvent.objects.filter(target_type="governance.finding", target_id=str(finding.pk))
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["finding.raised", "finding.answered", "finding.closed"]

    request = PromotionRequest.objects.get(model_version=v2)
    assert request.status == "completed"
    assert sorted(request.reviews.values_list("reviewer__username", "role")) == [
        ("rita", "risk officer"),
        ("vera", "validator"),
    ]
    gate = PolicyEvaluation.objects.get(promotion_request=request, purpose="promotion")
    assert gate.passed and gate.artifact_sha256 == v2.artifact_sha256
    (change,) = StageChange.objects.filter(model=model)
    assert (change.model_version, change.to_stage, change.evaluation) == (v2, "production", gate)
    assert (v1.stage, v2.stage) == ("none", "production")
    assert "the gate passed and adult-income:2 is in production" in output


def test_running_the_demo_again_changes_nothing() -> None:
    demo("--sample", "500", "--no-governance")
    before = counts()

    output = demo()

    assert "already loaded" in output
    assert "API token" not in output
    assert counts() == before


def test_the_demo_refuses_a_database_holding_part_of_it(data_scientist: User) -> None:
    before = counts()
    with pytest.raises(CommandError, match="already holds part of the demo \\(user dana\\)"):
        demo()
    assert counts() == before


def test_a_refused_artifact_leaves_no_half_loaded_demo(settings: pytest.FixtureRequest) -> None:
    # The artifact is the last thing registered: users, team and datasets must roll back with it.
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 1024  # type: ignore[attr-defined]
    before = counts()
    with pytest.raises(CommandError, match=r"could not be loaded: the artifact is larger"):
        demo("--sample", "500")
    assert counts() == before


def test_gradient_boosting_registers_once_its_tree_type_is_trusted(
    settings: pytest.FixtureRequest,
) -> None:
    settings.MODELGATE_SKOPS_TRUSTED_TYPES = [TREE_PREDICTOR]  # type: ignore[attr-defined]
    demo(
        "--estimator",
        "hist-gradient-boosting",
        "--sample",
        "1000",
        "--seed",
        "3",
        "--no-governance",
    )

    version = ModelVersion.objects.get(model__name="adult-income")
    assert version.parameters["estimator"] == "HistGradientBoostingClassifier"
    assert version.parameters["train_rows"] == 1000
    assert version.parameters["seed"] == 3
    assert version.artifact_details["trusted_via_allow_list"] == [TREE_PREDICTOR]
    # The datasets stay complete whatever the training sample.
    assert DatasetVersion.objects.get(dataset__name="adult-train").row_count == 32_561


def test_training_is_reproducible_for_a_seed(tmp_path: Path) -> None:
    from governance import demo_model

    data = Path(settings.BASE_DIR) / "examples" / "data"
    first = demo_model.train(
        data / "adult_train.csv.gz", data / "adult_test.csv.gz", tmp_path, sample=3000, seed=7
    )
    metrics = first.metrics
    second = demo_model.train(
        data / "adult_train.csv.gz", data / "adult_test.csv.gz", tmp_path, sample=3000, seed=7
    )
    assert second.metrics == metrics

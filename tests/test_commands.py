"""The registry's management commands: thin wrappers over the services, with the same refusals."""

import hashlib
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from core.models import Team
from registry.models import (
    Dataset,
    DatasetVersion,
    EdgeKind,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
)
from tests.registry import artifact_builders

pytestmark = pytest.mark.django_db

CSV = "age,income,tenure,score,sex,label\n" + "".join(
    f"{20 + i},{1000 * i},{i % 7},{i / 10},{'F' if i % 2 else 'M'},{i % 2}\n" for i in range(40)
)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def counts() -> tuple[int, ...]:
    return tuple(
        kind.objects.count()
        for kind in (
            RegisteredModel,
            ModelVersion,
            Dataset,
            DatasetVersion,
            LineageEdge,
            AuditEvent,
        )
    )


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(CSV)
    return path


@pytest.fixture
def model(data_scientist: User) -> RegisteredModel:
    run("register_model", "churn", "--as", "dana", "--team", "credit-risk")
    return RegisteredModel.objects.get(name="churn")


@pytest.fixture
def dataset_ref(data_scientist: User, csv_file: Path) -> str:
    run("register_dataset", "customers", "--as", "dana", "--file", str(csv_file))
    return "customers:1"


# --- register_model ----------------------------------------------------------------------------


def test_register_model_writes_the_model_and_its_audit_event(data_scientist: User) -> None:
    output = run(
        "register_model", "churn", "--as", "dana", "--team", "credit-risk",
        "--title", "Churn", "--risk-tier", "limited", "--intended-use", "retention offers",
        "--limitations", "EU customers only", "--tag", "tabular", "--tag", "demo",
    )  # fmt: skip

    model = RegisteredModel.objects.get(name="churn")
    assert (model.title, model.risk_tier, model.owner_team.name) == (
        "Churn",
        "limited",
        "credit-risk",
    )
    assert (model.intended_use, model.limitations) == ("retention offers", "EU customers only")
    assert model.tags == ["demo", "tabular"]
    assert model.created_by == data_scientist
    event = AuditEvent.objects.for_object(model).get()
    assert (event.action, event.actor_username) == ("registry.model.registered", "dana")
    assert "registered model churn" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "dana", "--team", "no-such-team"], "no team named 'no-such-team'"),
        (["--as", "nobody", "--team", "credit-risk"], "no active user named 'nobody'"),
        (["--as", "aldo", "--team", "credit-risk"], "[permission_denied]"),
        (["--as", "vera", "--team", "credit-risk"], "[permission_denied]"),
    ],
)
def test_register_model_refusals_write_nothing(
    data_scientist: User, auditor: User, validator: User, args: list[str], message: str
) -> None:
    before = counts()
    with pytest.raises(CommandError) as refused:
        run("register_model", "churn", *args)
    assert message in str(refused.value)
    assert counts() == before


def test_register_model_refuses_a_duplicate_name(model: RegisteredModel) -> None:
    before = counts()
    with pytest.raises(CommandError, match=r"already exists \[duplicate\]"):
        run("register_model", "churn", "--as", "dana", "--team", "credit-risk")
    assert counts() == before


def test_an_inactive_user_cannot_act(data_scientist: User) -> None:
    data_scientist.is_active = False
    data_scientist.save()
    with pytest.raises(CommandError, match="no active user named 'dana'"):
        run("register_model", "churn", "--as", "dana", "--team", "credit-risk")
    assert not RegisteredModel.objects.exists()


# --- register_dataset --------------------------------------------------------------------------


def test_register_dataset_with_a_file_writes_the_dataset_its_version_and_events(
    data_scientist: User, csv_file: Path
) -> None:
    output = run(
        "register_dataset", "customers", "--as", "dana", "--description", "synthetic",
        "--file", str(csv_file), "--target-column", "label", "--sensitive-feature", "sex",
    )  # fmt: skip

    dataset = Dataset.objects.get(name="customers")
    version = dataset.versions.get()
    assert (dataset.description, version.version, version.row_count) == ("synthetic", 1, 40)
    assert version.target_column == "label"
    assert version.sensitive_features == ["sex"]
    assert version.column_names == ["age", "income", "tenure", "score", "sex", "label"]
    assert version.sha256 == hashlib.sha256(csv_file.read_bytes()).hexdigest()
    assert AuditEvent.objects.for_object(dataset).get().action == "registry.dataset.registered"
    event = AuditEvent.objects.for_object(version).get()
    assert (event.action, event.actor_username) == ("registry.dataset_version.registered", "dana")
    assert f"customers:1 (csv, 40 rows, 6 columns, sha256 {version.sha256})" in output


def test_register_dataset_without_a_file_registers_only_the_name(data_scientist: User) -> None:
    run("register_dataset", "customers", "--as", "dana")
    assert Dataset.objects.get(name="customers").versions.count() == 0


def test_a_file_for_an_existing_dataset_adds_its_next_version(
    dataset_ref: str, tmp_path: Path
) -> None:
    second = tmp_path / "second.csv"
    second.write_text(CSV + "99,1,1,1.0,F,1\n")
    output = run("register_dataset", "customers", "--as", "dana", "--file", str(second))

    assert list(DatasetVersion.objects.values_list("version", "row_count")) == [(2, 41), (1, 40)]
    assert Dataset.objects.count() == 1
    assert "customers:2" in output


def test_a_refused_first_version_leaves_no_dataset_behind(
    data_scientist: User, csv_file: Path
) -> None:
    before = counts()
    with pytest.raises(CommandError, match=r"no_such_column.*\[unknown_column\]"):
        run(
            "register_dataset", "customers", "--as", "dana",
            "--file", str(csv_file), "--target-column", "no_such_column",
        )  # fmt: skip
    assert counts() == before


def test_a_malformed_dataset_file_is_refused(data_scientist: User, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02 not a csv")
    before = counts()
    with pytest.raises(CommandError, match=r"\[malformed_file\]"):
        run("register_dataset", "customers", "--as", "dana", "--file", str(bad))
    assert counts() == before


def test_an_auditor_cannot_register_a_dataset(auditor: User, csv_file: Path) -> None:
    with pytest.raises(CommandError, match=r"\[permission_denied\]"):
        run("register_dataset", "customers", "--as", "aldo", "--file", str(csv_file))
    assert not Dataset.objects.exists()


# --- register_version --------------------------------------------------------------------------


def test_register_version_stores_the_artifact_with_lineage_and_audit_events(
    model: RegisteredModel, dataset_ref: str, tmp_path: Path
) -> None:
    built = artifact_builders.skops_logistic(tmp_path)
    output = run(
        "register_version", "churn", "--as", "dana", "--artifact", str(built.path),
        "--format", "skops", "--metrics", '{"accuracy": 0.9}', "--parameters", '{"C": 1.0}',
        "--training-dataset", dataset_ref, "--evaluation-dataset", dataset_ref,
        "--code-repository", "https://git.example.org/churn", "--code-commit", "abc123",
    )  # fmt: skip

    version = ModelVersion.objects.get(model=model)
    digest = hashlib.sha256(built.path.read_bytes()).hexdigest()
    assert (version.version, version.artifact_sha256, version.artifact_format) == (
        1,
        digest,
        "skops",
    )
    assert (version.metrics, version.parameters) == ({"accuracy": 0.9}, {"C": 1.0})
    assert version.feature_names == artifact_builders.FEATURES
    assert (version.code_repository, version.code_commit) == (
        "https://git.example.org/churn",
        "abc123",
    )
    assert version.framework.startswith("scikit-learn")
    assert sorted(version.upstream_edges.values_list("kind", flat=True)) == [
        EdgeKind.EVALUATED_ON,
        EdgeKind.TRAINED_ON,
    ]
    assert AuditEvent.objects.for_object(version).get().action == "registry.version.registered"
    assert AuditEvent.objects.filter(action="registry.lineage.edge_added").count() == 2
    assert "registered churn version 1: skops" in output
    assert digest in output


def test_a_corrupt_artifact_is_refused_and_nothing_is_written(
    model: RegisteredModel, tmp_path: Path, media_root: Path
) -> None:
    built = artifact_builders.skops_logistic(tmp_path)
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(built.path.read_bytes()[:200])
    before = counts()

    with pytest.raises(CommandError, match=r"\[corrupt_artifact\]"):
        run("register_version", "churn", "--as", "dana", "--artifact", str(truncated))

    assert counts() == before
    assert not any(path.is_file() for path in media_root.rglob("*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "{not json"], "--metrics: not valid JSON"),
        (["--metrics", "[1, 2]"], "metrics must be a JSON dict"),
        (["--training-dataset", "customers:7"], "dataset version 'customers:7' does not exist"),
        (["--training-dataset", "customers"], 'must look like "name:version"'),
        (["--parent-version", "3"], "churn has no version 3"),
        (["--feature-name", "a", "--feature-name", "b"], "[feature_names_mismatch]"),
        (["--format", "pickle"], "[unsafe_format]"),
    ],
)
def test_register_version_refusals_write_nothing(
    model: RegisteredModel, dataset_ref: str, tmp_path: Path, args: list[str], message: str
) -> None:
    built = artifact_builders.skops_logistic(tmp_path)
    before = counts()
    with pytest.raises(CommandError) as refused:
        run("register_version", "churn", "--as", "dana", "--artifact", str(built.path), *args)
    assert message in str(refused.value)
    assert counts() == before


def test_register_version_of_an_unknown_model_is_refused(
    data_scientist: User, tmp_path: Path
) -> None:
    built = artifact_builders.skops_logistic(tmp_path)
    with pytest.raises(CommandError, match="no model named 'nope'"):
        run("register_version", "nope", "--as", "dana", "--artifact", str(built.path))


def test_a_data_scientist_outside_the_owner_team_cannot_register_a_version(
    model: RegisteredModel, other_data_scientist: User, tmp_path: Path
) -> None:
    built = artifact_builders.skops_logistic(tmp_path)
    before = counts()
    with pytest.raises(CommandError, match=r"\[permission_denied\]"):
        run("register_version", "churn", "--as", "omar", "--artifact", str(built.path))
    assert counts() == before


# --- add_lineage_edge --------------------------------------------------------------------------


@pytest.fixture
def two_versions(model: RegisteredModel, tmp_path: Path) -> RegisteredModel:
    built = artifact_builders.skops_logistic(tmp_path)
    ridge = artifact_builders.skops_ridge(tmp_path)
    run("register_version", "churn", "--as", "dana", "--artifact", str(built.path))
    run("register_version", "churn", "--as", "dana", "--artifact", str(ridge.path))
    return model


def test_add_lineage_edge_records_the_edge_and_its_event(two_versions: RegisteredModel) -> None:
    output = run(
        "add_lineage_edge", "model:churn:2", "derived_from", "model:churn:1", "--as", "dana"
    )

    edge = LineageEdge.objects.get()
    assert (str(edge.subject), edge.kind, str(edge.object)) == (
        "churn:2",
        "derived_from",
        "churn:1",
    )
    event = AuditEvent.objects.for_object(edge).get()
    assert (event.action, event.actor_username) == ("registry.lineage.edge_added", "dana")
    assert f"edge #{edge.pk}: churn:2 derived_from churn:1" in output


def test_add_lineage_edge_refuses_a_cycle(two_versions: RegisteredModel) -> None:
    run("add_lineage_edge", "model:churn:2", "derived_from", "model:churn:1", "--as", "dana")
    before = counts()
    with pytest.raises(CommandError, match=r"\[lineage_cycle\]"):
        run("add_lineage_edge", "model:churn:1", "derived_from", "model:churn:2", "--as", "dana")
    assert counts() == before


@pytest.mark.parametrize(
    ("subject", "obj", "message"),
    [
        ("model:churn:9", "model:churn:1", "model version 'churn:9' does not exist"),
        ("churn:2", "model:churn:1", 'must look like "model:<name>:<version>"'),
    ],
)
def test_add_lineage_edge_refuses_unknown_references(
    two_versions: RegisteredModel, subject: str, obj: str, message: str
) -> None:
    before = counts()
    with pytest.raises(CommandError) as refused:
        run("add_lineage_edge", subject, "derived_from", obj, "--as", "dana")
    assert message in str(refused.value)
    assert counts() == before


def test_only_the_owner_team_adds_lineage_from_its_versions(
    two_versions: RegisteredModel, validator: User
) -> None:
    with pytest.raises(CommandError, match=r"\[permission_denied\]"):
        run("add_lineage_edge", "model:churn:2", "derived_from", "model:churn:1", "--as", "vera")
    assert not LineageEdge.objects.exists()
    assert Team.objects.get(name="credit-risk").has_member(User.objects.get(username="dana"))

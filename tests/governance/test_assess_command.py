"""manage.py assess: the service's request, a job run here with a progress bar (or left to the
workers), the key results, and a non-zero exit when the request is refused or the job fails.

Tests that run a job use committed data (transactional_db): the command runs the job in a thread
of its own, with its own database connection, while the main thread polls the row.
"""

import io

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from governance.models import Assessment
from tests.governance import assessment_setup as setup

committed = pytest.mark.django_db(transaction=True)


def assess(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("assess", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def vendor_dataset(by, *, labels: tuple[str, ...] = (">50K", "<=50K")):
    """Predictions-only data: decisions already made by a model we do not have."""
    frame = setup.adult_rows("test", 200)[["sex", "race", "income"]].copy()
    frame["prediction"] = np.resize(np.array(labels), len(frame))
    return setup.dataset_version(by, frame, name="vendor", prediction_column="prediction")


@committed
def test_it_runs_a_model_here_drawing_progress_and_prints_the_metrics(data_scientist, validator):
    setup.adult_model(data_scientist)
    setup.adult_dataset(data_scientist, rows=300)

    out, err = assess(
        "adult-income", "1", "--kind", "performance", "--dataset", "adult-eval:1", "--as", "vera"
    )

    assessment = Assessment.objects.get()
    assert assessment.status == "succeeded" and assessment.requested_by == validator
    assert f"assessment #{assessment.pk}: performance of adult-income:1 on adult-eval:1" in out
    bars = [line for line in err.splitlines() if line.startswith("[")]
    assert len(bars) >= 2, err
    assert bars[-1].startswith("[" + "#" * 30 + "] 100% done")
    assert any("running the model" in line or "model:" in line for line in bars), bars
    assert f"assessment #{assessment.pk} succeeded" in out
    accuracy = assessment.results["metrics"]["accuracy"]
    assert f"accuracy: {accuracy:.4f}" in out
    assert f"/api/v1/assessments/{assessment.pk}/charts/performance.png" in out
    chart = assessment.charts.get(format="png")
    assert chart.file_key in out


@committed
def test_an_explainability_run_prints_the_top_features(data_scientist):
    version = setup.adult_model(data_scientist)
    setup.adult_dataset(data_scientist, rows=100)

    out, _ = assess(
        "adult-income", "1", "--kind", "explainability", "--dataset", "adult-eval:1",
        "--param", "max_rows=40", "--param", "background_rows=20", "--as", "dana",
    )  # fmt: skip

    results = Assessment.objects.get().results
    top = results["ranking"][0]
    assert f"top feature 1: {top} (mean |SHAP| {results['global_importance'][top]:.4f})" in out
    assert "top feature 10:" in out and "top feature 11:" not in out
    assert len(version.feature_names) > 10
    assert "share of attribution on sensitive features (sex, race):" in out
    assert "charts/shap-importance.png" in out


@committed
def test_enqueued_it_follows_the_job_that_ran_at_commit_and_prints_disparities_per_feature(
    data_scientist, settings
):
    settings.MODELGATE_JOBS = "inline"  # the job runs when the request commits
    vendor_dataset(data_scientist)

    out, err = assess(
        "--predictions-only", "--kind", "fairness", "--dataset", "vendor:1",
        "--sensitive", "sex", "race", "--param", "n_bootstrap=5", "--param", "min_group_size=5",
        "--param", "pos_label=>50K", "--as", "dana", "--enqueue",
    )  # fmt: skip

    assessment = Assessment.objects.get()
    assert assessment.model_version is None and assessment.status == "succeeded"
    assert assessment.sensitive_features == ["sex", "race"]
    assert (
        assessment.parameters["n_bootstrap"] == 5 and assessment.parameters["min_group_size"] == 5
    )
    assert "fairness of predictions on vendor:1" in out
    parity = assessment.results["disparities"]["sex"]["demographic_parity_difference"]
    assert f"disparities by sex: demographic_parity_difference {parity:.4f}" in out
    assert "disparities by race:" in out and "disparities by sex×race:" in out  # noqa: RUF001
    assert "100% done" in err


@committed
def test_a_failed_assessment_exits_non_zero_with_its_reason(data_scientist):
    vendor_dataset(data_scientist, labels=(">50K", "<=50K", "maybe"))  # not binary

    with pytest.raises(CommandError, match=r"failed \[invalid_input\].*two labels"):
        assess("--predictions-only", "--kind", "fairness", "--dataset", "vendor:1", "--as", "dana")

    failed = Assessment.objects.get()
    assert failed.status == "failed" and failed.error_code == "invalid_input"


@pytest.mark.django_db
def test_enqueue_no_wait_prints_the_id_and_leaves_it_to_the_workers(data_scientist):
    vendor_dataset(data_scientist)

    out, _ = assess(
        "--predictions-only", "--kind", "performance", "--dataset", "vendor:1", "--as", "dana",
        "--enqueue", "--no-wait",
    )  # fmt: skip

    assessment = Assessment.objects.get()
    assert f"assessment #{assessment.pk}" in out and f"/api/v1/assessments/{assessment.pk}/" in out
    assert "status: queued" in out and assessment.status == "queued"


@pytest.mark.django_db
def test_enqueue_waits_for_a_worker_and_gives_up_after_the_timeout(data_scientist):
    vendor_dataset(data_scientist)  # no worker runs in this test: the commit never comes

    with pytest.raises(CommandError, match=r"still queued after 0\.7 s"):
        assess(
            "--predictions-only", "--kind", "performance", "--dataset", "vendor:1", "--as",
            "dana", "--enqueue", "--timeout", "0.7",
        )  # fmt: skip

    assert Assessment.objects.get().status == "queued"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--kind", "fairness", "--dataset", "vendor:1", "--as", "aldo"], "auditors read"),
        (["--kind", "fairness", "--dataset", "vendor:9", "--as", "dana"], "vendor:9"),
        (["--kind", "fairness", "--dataset", "vendor:1", "--as", "nobody"], "nobody"),
        (
            ["--kind", "fairness", "--dataset", "vendor:1", "--as", "dana", "--param", "bogus=1"],
            "bogus",
        ),
        (
            ["--kind", "fairness", "--dataset", "vendor:1", "--as", "dana", "--param", "seed"],
            "key=value",
        ),
        (
            [
                "--kind",
                "fairness",
                "--dataset",
                "vendor:1",
                "--as",
                "dana",
                "--sensitive",
                "religion",
            ],
            "religion",
        ),
        (["--kind", "explainability", "--dataset", "vendor:1", "--as", "dana"], "model_required"),
        (["--kind", "fairness", "--dataset", "vendor:1", "--as", "dana", "--no-wait"], "--enqueue"),
    ],
)
def test_refusals_exit_non_zero_and_write_nothing(data_scientist, auditor, args, words):
    vendor_dataset(data_scientist)
    before = (Assessment.objects.count(), AuditEvent.objects.count())

    with pytest.raises(CommandError, match=words):
        assess("--predictions-only", *args)

    assert (Assessment.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_a_model_version_is_named_unless_predictions_only(data_scientist, team):
    vendor_dataset(data_scientist)
    common = ["--kind", "fairness", "--dataset", "vendor:1", "--as", "dana"]
    with pytest.raises(CommandError, match="give MODEL and VERSION"):
        assess(*common)
    with pytest.raises(CommandError, match="give MODEL and VERSION"):
        assess("adult-income", *common)
    with pytest.raises(CommandError, match="no MODEL VERSION"):
        assess("adult-income", "1", "--predictions-only", *common)
    with pytest.raises(CommandError, match="has no version 1"):
        assess("adult-income", "1", *common)
    assert not Assessment.objects.exists()

"""Assessment jobs end to end, in-process: a real model in the sandbox on real Adult rows.

The numbers are checked against an independent computation (the model loaded here, pandas and
scikit-learn on its outputs); failures are checked for their reason and for leaving nothing
else changed.
"""

import pickle
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import Conflict, InvalidInput
from governance.assessments import results_json
from governance.jobs import runner, state
from governance.models import Assessment, ImmutableAssessment
from governance.services.assessments import request_assessment
from registry.model_loading import load_version
from tests.conftest import requires_postgres
from tests.governance import assessment_setup as setup
from tests.governance import sandbox_targets as targets

pytestmark = pytest.mark.django_db


def run(captured, **request) -> Assessment:
    """Request an assessment and run its job as the commit would (inline mode)."""
    with captured(execute=True):
        assessment = request_assessment(**request)
    assessment.refresh_from_db()
    return assessment


@pytest.fixture
def adult(data_scientist):
    version = setup.adult_model(data_scientist)
    dataset = setup.adult_dataset(data_scientist, rows=400)
    return version, dataset


def model_scores(version, dataset_rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = setup.adult_rows("test", dataset_rows)
    model = load_version(version)
    scores = model.predict_proba(frame[version.feature_names])[:, 1]
    return frame, scores


def test_fairness_numbers_equal_a_plain_pandas_computation(
    adult, validator, django_capture_on_commit_callbacks
):
    version, dataset = adult
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="fairness",
        model_version=version,
        dataset_version=dataset,
        parameters={"n_bootstrap": 20, "threshold": 0.4, "min_group_size": 10},
    )
    assert assessment.status == "succeeded", assessment.error_message
    assert assessment.progress == 100
    frame, scores = model_scores(version, 400)
    y = (frame["income"] == ">50K").astype(int)
    pred = (scores >= 0.4).astype(int)
    by_sex = assessment.results["by_feature"]["sex"]
    for group, rows in frame.groupby("sex").groups.items():
        truth, decided = y[rows], pred[np.asarray(rows)]
        expected_selection = decided.mean()
        expected_tpr = decided[truth.to_numpy() == 1].mean()
        assert by_sex[group]["count"] == len(rows)
        assert abs(by_sex[group]["selection_rate"] - expected_selection) < 1e-12
        assert abs(by_sex[group]["true_positive_rate"] - expected_tpr) < 1e-12
        assert (
            abs(by_sex[group]["roc_auc"] - skm.roc_auc_score(truth, scores[np.asarray(rows)]))
            < 1e-12
        )
    assert "sex×race" in assessment.results["by_feature"]  # noqa: RUF001
    assert assessment.results["parameters"]["threshold"] == 0.4
    provenance = assessment.provenance
    assert provenance["artifact_sha256"] == version.artifact_sha256
    assert provenance["dataset_sha256"] == dataset.sha256
    assert provenance["seed"] == 0 and provenance["sample_sizes"] == {"rows": 400}
    for library in ("numpy", "pandas", "scikit-learn", "shap", "fairlearn"):
        assert provenance["library_versions"][library]
    assert provenance["model_library"] == "scikit-learn"
    assert provenance["model_runtime"]["model_class"].endswith("Pipeline")
    assert assessment.results["provenance"] == provenance
    charts = {(c.name, c.format) for c in assessment.charts.all()}
    assert ("disparities", "png") in charts and ("disparities", "svg") in charts
    assert assessment.results_sha256 == results_json.sha256(assessment.results)
    actions = list(
        AuditEvent.objects.filter(
            target_type="governance.assessment", target_id=str(assessment.pk)
        ).values_list("action", flat=True)
    )
    assert actions == ["assessment.requested", "assessment.succeeded"]


def test_the_same_assessment_twice_gives_byte_identical_results(
    adult, validator, django_capture_on_commit_callbacks
):
    version, dataset = adult
    request = dict(
        by=validator,
        kind="fairness",
        model_version=version,
        dataset_version=dataset,
        parameters={"n_bootstrap": 30, "seed": 7},
    )
    first = run(django_capture_on_commit_callbacks, **request)
    second = run(django_capture_on_commit_callbacks, **request)
    assert first.pk != second.pk
    assert first.status == second.status == "succeeded"
    assert results_json.to_bytes(first.results) == results_json.to_bytes(second.results)
    assert first.results_sha256 == second.results_sha256
    first_charts = {(c.name, c.format): c.sha256 for c in first.charts.all()}
    assert first_charts == {(c.name, c.format): c.sha256 for c in second.charts.all()}


def test_performance_equals_scikit_learn(adult, validator, django_capture_on_commit_callbacks):
    version, dataset = adult
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
    )
    assert assessment.status == "succeeded", assessment.error_message
    frame, scores = model_scores(version, 400)
    y = (frame["income"] == ">50K").astype(int).to_numpy()
    metrics = assessment.results["metrics"]
    assert abs(metrics["roc_auc"] - skm.roc_auc_score(y, scores)) < 1e-12
    assert abs(metrics["brier_score"] - skm.brier_score_loss(y, scores)) < 1e-12
    assert abs(metrics["accuracy"] - skm.accuracy_score(y, scores >= 0.5)) < 1e-12


def test_predictions_only_fairness_needs_no_artifact(
    data_scientist, validator, django_capture_on_commit_callbacks
):
    frame = setup.adult_rows("test", 300)[["sex", "race", "income"]].copy()
    rng = np.random.default_rng(1)
    frame["score"] = rng.random(len(frame))
    frame["prediction"] = np.where(frame["score"] >= 0.5, ">50K", "<=50K")
    dataset = setup.dataset_version(
        data_scientist,
        frame,
        name="vendor-scores",
        prediction_column="prediction",
        score_column="score",
    )
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="fairness",
        dataset_version=dataset,
        parameters={
            "n_bootstrap": 10,
            "threshold": 0.3,
            "pos_label": ">50K",
            "decision": "threshold",
        },
    )
    assert assessment.status == "succeeded", assessment.error_message
    assert assessment.model_version is None and assessment.artifact_sha256 == ""
    female = frame[frame["sex"] == "Female"]
    expected = (female["score"] >= 0.3).mean()
    assert (
        abs(assessment.results["by_feature"]["sex"]["Female"]["selection_rate"] - expected) < 1e-12
    )
    assert assessment.results["parameters"]["pos_label"] == ">50K"


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (
            {"kind": "fairness", "sensitive_features": ["religion"]},
            "unknown_sensitive_feature",
            "religion",
        ),
        (
            {"kind": "fairness", "parameters": {"n_bootstrap": -1}},
            "invalid_parameters",
            "n_bootstrap",
        ),
        ({"kind": "fairness", "parameters": {"bogus": 1}}, "invalid_parameters", "bogus"),
        ({"kind": "sentiment"}, "invalid_kind", "kind"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_queued(adult, validator, change, code, words):
    version, dataset = adult
    before = (Assessment.objects.count(), AuditEvent.objects.count())
    with pytest.raises(InvalidInput) as caught:
        request_assessment(by=validator, model_version=version, dataset_version=dataset, **change)
    assert caught.value.code == code and words in caught.value.detail
    assert (Assessment.objects.count(), AuditEvent.objects.count()) == before


def test_a_dataset_missing_the_models_features_or_target_is_refused(
    adult, data_scientist, validator
):
    version, _ = adult
    frame = setup.adult_rows("test", 100)
    no_age = setup.dataset_version(data_scientist, frame.drop(columns=["age"]), name="no-age")
    with pytest.raises(InvalidInput, match="age") as caught:
        request_assessment(
            by=validator, kind="performance", model_version=version, dataset_version=no_age
        )
    assert caught.value.code == "missing_features"
    no_target = setup.dataset_version(data_scientist, frame, name="no-target", target_column="")
    with pytest.raises(InvalidInput) as caught:
        request_assessment(
            by=validator, kind="fairness", model_version=version, dataset_version=no_target
        )
    assert caught.value.code == "missing_target"


def test_a_dataset_over_the_row_limit_is_refused(adult, validator, settings):
    version, dataset = adult
    settings.MODELGATE_ASSESSMENT_MAX_ROWS = 399
    with pytest.raises(InvalidInput, match="399") as caught:
        request_assessment(
            by=validator, kind="performance", model_version=version, dataset_version=dataset
        )
    assert caught.value.code == "too_many_rows"
    assert not Assessment.objects.exists()


def test_a_second_identical_request_while_one_runs_is_a_conflict(adult, validator):
    version, dataset = adult
    request = dict(by=validator, kind="performance", model_version=version, dataset_version=dataset)
    first = request_assessment(**request)  # queued: its job waits for a commit that never comes
    count = AuditEvent.objects.count()
    with pytest.raises(Conflict) as caught:
        request_assessment(**request)
    assert caught.value.code == "duplicate_assessment"
    assert Assessment.objects.get() == first and AuditEvent.objects.count() == count
    # A different parameter is a different request.
    request_assessment(**request, parameters={"threshold": 0.6})
    assert Assessment.objects.count() == 2


def test_a_non_binary_target_fails_the_assessment_with_the_reason(
    adult, data_scientist, validator, django_capture_on_commit_callbacks
):
    version, _ = adult
    frame = setup.adult_rows("test", 200)
    dataset = setup.dataset_version(
        data_scientist,
        frame,
        name="race-as-target",
        target_column="race",
        sensitive_features=("sex",),
    )
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
        parameters={"task": "binary"},
    )
    assert assessment.status == "failed"
    assert assessment.error_code == "invalid_input"
    assert "binary" in assessment.error_message and assessment.results is None
    assert not assessment.charts.exists()


def test_nans_the_model_cannot_take_fail_with_the_models_reason(
    adult, data_scientist, validator, django_capture_on_commit_callbacks
):
    version, _ = adult
    frame = setup.adult_rows("test", 200).copy()
    frame.loc[5, "age"] = np.nan
    dataset = setup.dataset_version(data_scientist, frame, name="with-nans")
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
    )
    assert assessment.status == "failed"
    assert assessment.error_code == "model_error"
    assert "NaN" in assessment.error_message


@pytest.mark.parametrize(
    ("model", "code", "words"),
    [
        (targets.Raises(), "model_error", "must not be negative"),
        (targets.Segfaults(), "crashed", "SIGSEGV"),
    ],
)
def test_a_model_that_fails_or_crashes_fails_its_assessment_and_nothing_else(
    data_scientist, validator, settings, django_capture_on_commit_callbacks, model, code, words
):
    settings.MODELGATE_ALLOW_PICKLE = True
    dataset = setup.adult_dataset(data_scientist, rows=50)
    version = setup.artifact_version(
        data_scientist, pickle.dumps(model), "pickle", name="hostile", features=["age"]
    )
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
        parameters={"task": "regression"},
    )
    assert assessment.status == "failed"
    assert assessment.error_code == code, assessment.error_message
    assert words in assessment.error_message


def test_a_hanging_model_times_out(
    data_scientist, validator, settings, django_capture_on_commit_callbacks
):
    settings.MODELGATE_ALLOW_PICKLE = True
    settings.MODELGATE_SANDBOX_WALL_SECONDS = 8
    dataset = setup.adult_dataset(data_scientist, rows=50)
    version = setup.artifact_version(
        data_scientist,
        pickle.dumps(targets.SleepsForever()),
        "pickle",
        name="sleepy",
        features=["age"],
    )
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
        parameters={"task": "regression"},
    )
    assert assessment.status == "failed" and assessment.error_code == "timeout"
    assert "8 s" in assessment.error_message


def test_a_finished_assessment_cannot_be_changed_or_deleted(
    adult, validator, django_capture_on_commit_callbacks
):
    version, dataset = adult
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
    )
    assessment.results = {"accuracy": 1.0}
    with pytest.raises(ImmutableAssessment):
        assessment.save()
    with pytest.raises(ImmutableAssessment):
        assessment.delete()
    # Nor behind the ORM's back: the database refuses it too.
    with pytest.raises(DatabaseError), transaction.atomic():
        Assessment.objects.filter(pk=assessment.pk).update(results={"accuracy": 1.0})
    # And a late run can neither fail nor succeed it again.
    assert not state.fail(assessment.pk, "x", "y")
    assessment.refresh_from_db()
    assert assessment.results["metrics"]["accuracy"] != 1.0


@requires_postgres
def test_postgres_refuses_deleting_an_assessment(adult, validator):
    version, dataset = adult
    assessment = request_assessment(
        by=validator, kind="performance", model_version=version, dataset_version=dataset
    )
    with (
        pytest.raises(DatabaseError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM governance_assessment WHERE id = %s", [assessment.pk])


def test_a_job_runs_once_however_often_it_is_delivered(adult, validator):
    version, dataset = adult
    assessment = request_assessment(
        by=validator, kind="performance", model_version=version, dataset_version=dataset
    )
    runner.execute(assessment.pk)
    assessment.refresh_from_db()
    finished = (assessment.status, assessment.finished_at, assessment.results_sha256)
    runner.execute(assessment.pk)  # redelivered: nothing to do
    assessment.refresh_from_db()
    assert (assessment.status, assessment.finished_at, assessment.results_sha256) == finished
    assert assessment.attempts == 1


def test_the_reaper_fails_a_run_whose_lease_ran_out_and_the_run_cannot_succeed_after(
    adult, validator
):
    version, dataset = adult
    assessment = request_assessment(
        by=validator, kind="performance", model_version=version, dataset_version=dataset
    )
    claimed = state.claim(assessment.pk)
    assert claimed is not None and state.claim(assessment.pk) is None
    assert state.reap() == []  # the lease is fresh
    Assessment.objects.filter(pk=assessment.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert state.reap() == [assessment.pk]
    assessment.refresh_from_db()
    assert assessment.status == "failed" and assessment.error_code == "worker_lost"
    assert "1%" in assessment.error_message
    with pytest.raises(state.LeaseLost):
        claimed.report(50, "still going", force=True)
    assert not claimed.succeed(
        results={"kind": "performance"},
        results_sha256="0" * 64,
        provenance={},
        timings={},
        charts=[],
    )
    assessment.refresh_from_db()
    assert assessment.status == "failed"


def test_explainability_of_the_demo_pipeline_is_exact_and_charted(
    adult, validator, django_capture_on_commit_callbacks
):
    version, dataset = adult
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="explainability",
        model_version=version,
        dataset_version=dataset,
        parameters={"max_rows": 300, "n_local": 3},
    )
    assert assessment.status == "succeeded", assessment.error_message
    results = assessment.results
    assert results["method"]["exact"] is True
    assert results["additivity"]["max_abs_error"] < 1e-9
    assert results["n_rows_explained"] == 300 and results["sampled"] is True
    assert set(results["global_importance"]) == set(version.feature_names)
    assert set(results["sensitive_share"]["features"]) == {"sex", "race"}
    assert 0 < results["sensitive_share"]["share"] < 1
    assert assessment.provenance["sample_sizes"]["rows_explained"] == 300
    names = {(c.name, c.format) for c in assessment.charts.all()}
    assert {("shap-importance", "png"), ("shap-beeswarm", "svg")} <= names


def test_explaining_in_chunks_gives_the_same_results_as_one_pass(
    adult, validator, django_capture_on_commit_callbacks, monkeypatch
):
    from governance.jobs import dispatch

    version, dataset = adult
    common = dict(
        by=validator, kind="explainability", model_version=version, dataset_version=dataset
    )
    whole = run(django_capture_on_commit_callbacks, **common, parameters={"max_rows": 250})
    # As with Celery workers: chunks queued as tasks (run inline here), then one merge.
    monkeypatch.setattr(dispatch, "distributed", lambda: True)
    chunked = run(
        django_capture_on_commit_callbacks,
        **common,
        parameters={"max_rows": 250, "chunk_rows": 100},
    )
    assert whole.status == chunked.status == "succeeded", chunked.error_message
    assert whole.timings["chunks"] == 1 and chunked.timings["chunks"] == 3
    assert [(c.row_start, c.row_stop) for c in chunked.chunks.all()] == [
        (0, 100),
        (100, 200),
        (200, 250),
    ]
    for name in (
        "global_importance",
        "global_importance_encoded",
        "local_explanations",
        "additivity",
    ):
        assert chunked.results[name] == whole.results[name]


def vendor_frame(rows: int = 200) -> pd.DataFrame:
    frame = setup.adult_rows("test", rows)[["sex", "race", "income"]].copy()
    frame["score"] = np.random.default_rng(3).random(len(frame))
    frame["prediction"] = np.where(np.arange(len(frame)) % 3 == 0, ">50K", "<=50K")
    return frame


def test_predictions_only_uses_the_files_own_decisions_unless_told_to_threshold(
    data_scientist, validator, django_capture_on_commit_callbacks
):
    frame = vendor_frame()
    dataset = setup.dataset_version(
        data_scientist, frame, name="vendor", prediction_column="prediction", score_column="score"
    )
    common = dict(by=validator, kind="fairness", dataset_version=dataset)
    decided = run(
        django_capture_on_commit_callbacks,
        **common,
        parameters={"n_bootstrap": 5, "pos_label": ">50K"},
    )
    assert decided.status == "succeeded", decided.error_message
    assert decided.results["parameters"]["y_pred_source"] == "y_pred"
    male = frame[frame["sex"] == "Male"]
    expected = (male["prediction"] == ">50K").mean()
    assert abs(decided.results["by_feature"]["sex"]["Male"]["selection_rate"] - expected) < 1e-12


def test_string_labels_without_a_declared_positive_label_fail_with_the_fix(
    data_scientist, validator, django_capture_on_commit_callbacks
):
    dataset = setup.dataset_version(
        data_scientist, vendor_frame(), name="vendor", prediction_column="prediction"
    )
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        dataset_version=dataset,
    )
    assert assessment.status == "failed" and assessment.error_code == "invalid_input"
    assert "parameters.pos_label" in assessment.error_message


def test_a_float_zero_one_target_is_binary(
    data_scientist, validator, django_capture_on_commit_callbacks
):
    frame = vendor_frame()
    frame["label"] = (frame["income"] == ">50K").astype(float)
    frame["decided"] = (frame["score"] >= 0.5).astype(float)
    dataset = setup.dataset_version(
        data_scientist,
        frame.drop(columns=["income", "prediction"]),
        name="floats",
        target_column="label",
        prediction_column="decided",
        score_column="score",
    )
    assessment = run(
        django_capture_on_commit_callbacks,
        by=validator,
        kind="performance",
        dataset_version=dataset,
    )
    assert assessment.status == "succeeded", assessment.error_message
    assert "roc_auc" in assessment.results["metrics"]


def test_results_survive_the_databases_json_round_trip_byte_for_byte(adult, validator):
    version, dataset = adult
    assessment = request_assessment(
        by=validator, kind="performance", model_version=version, dataset_version=dataset
    )
    run_ = state.claim(assessment.pk)
    awkward = {"kind": "performance", "zero": -0.0, "big": 1e16, "huge": -3.5e300, "small": 1e-7}
    stored = results_json.loads(results_json.to_bytes(awkward))
    assert run_.succeed(
        results=stored,
        results_sha256=results_json.sha256(awkward),
        provenance={},
        timings={},
        charts=[],
    )
    assessment.refresh_from_db()
    assert results_json.sha256(assessment.results) == assessment.results_sha256


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reapers_fail_each_dead_run_once_and_spare_live_ones(data_scientist, validator):
    import threading

    version = setup.adult_model(data_scientist)
    dataset = setup.adult_dataset(data_scientist, rows=50)
    dead, alive = [], []
    for i in range(12):
        assessment = request_assessment(
            by=validator,
            kind="performance",
            model_version=version,
            dataset_version=dataset,
            parameters={"seed": i},
            enqueue=False,
        )
        state.claim(assessment.pk)
        (dead if i % 2 else alive).append(assessment.pk)
    Assessment.objects.filter(pk__in=dead).update(
        lease_expires_at=timezone.now() - timedelta(seconds=5)
    )
    errors, reaped = [], []
    barrier = threading.Barrier(6)

    def reaper() -> None:
        try:
            barrier.wait()
            reaped.extend(state.reap())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reaper) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(reaped) == sorted(dead)  # each exactly once
    assert set(Assessment.objects.filter(pk__in=alive).values_list("status", flat=True)) == {
        "running"
    }
    failures = AuditEvent.objects.filter(action="assessment.failed").count()
    assert failures == len(dead)


def test_the_reaper_resends_work_that_lost_messages_left_waiting(
    adult, validator, settings, monkeypatch
):
    from governance.jobs import dispatch
    from governance.models import AssessmentChunk

    version, dataset = adult
    sent = []
    monkeypatch.setattr(dispatch, "enqueue", lambda pk: sent.append(("run", pk)))
    monkeypatch.setattr(dispatch, "enqueue_chunk", lambda pk, chunk: sent.append(("chunk", chunk)))
    monkeypatch.setattr(dispatch, "enqueue_finish", lambda pk: sent.append(("finish", pk)))
    queued = request_assessment(
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
        enqueue=False,
    )
    chunked = request_assessment(
        by=validator,
        kind="explainability",
        model_version=version,
        dataset_version=dataset,
        enqueue=False,
    )
    run_ = state.claim(chunked.pk)
    waiting = AssessmentChunk.objects.create(assessment=chunked, index=0, row_start=0, row_stop=10)
    AssessmentChunk.objects.create(
        assessment=chunked, index=1, row_start=10, row_stop=20, status="succeeded"
    )
    run_.hand_over_to_chunks()
    assert state.reap() == [] and sent == []  # nothing is old yet
    later = timezone.now() + timedelta(seconds=settings.MODELGATE_REQUEUE_AFTER_SECONDS + 1)
    assert state.reap(now=later) == []
    assert ("run", queued.pk) in sent and ("chunk", waiting.pk) in sent
    assert ("finish", chunked.pk) not in sent  # a chunk is still to do
    sent.clear()
    assert state.reap(now=later) == [] and sent == []  # re-sent once per period, not every pass
    AssessmentChunk.objects.filter(pk=waiting.pk).update(status="succeeded")
    much_later = later + timedelta(seconds=settings.MODELGATE_REQUEUE_AFTER_SECONDS + 1)
    state.reap(now=much_later)
    assert ("finish", chunked.pk) in sent
    chunked.refresh_from_db()
    assert chunked.stage == "merging chunks"


def test_a_models_own_labels_are_used_only_when_asked_for(
    adult, validator, django_capture_on_commit_callbacks
):
    version, dataset = adult
    common = dict(by=validator, kind="performance", model_version=version, dataset_version=dataset)
    thresholded = run(django_capture_on_commit_callbacks, **common, parameters={"threshold": 0.3})
    labelled = run(
        django_capture_on_commit_callbacks, **common, parameters={"decision": "predictions"}
    )
    assert thresholded.status == labelled.status == "succeeded", labelled.error_message
    assert thresholded.results["parameters"]["y_pred_source"] == "y_score >= 0.3"
    assert labelled.results["parameters"]["y_pred_source"] == "y_pred"
    frame = setup.adult_rows("test", 400)
    model = load_version(version)
    y = (frame["income"] == ">50K").astype(int).to_numpy()
    expected = skm.accuracy_score(y, model.predict(frame[version.feature_names]))
    assert abs(labelled.results["metrics"]["accuracy"] - expected) < 1e-12
    assert thresholded.timings["sandbox_peak_rss_bytes"] > 0


def test_the_reap_command_fails_abandoned_runs(adult, validator):
    from io import StringIO

    from django.core.management import call_command

    version, dataset = adult
    assessment = request_assessment(
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
        enqueue=False,
    )
    state.claim(assessment.pk)
    out = StringIO()
    call_command("reap_assessments", stdout=out)
    assert out.getvalue().strip() == "no abandoned assessment"
    Assessment.objects.filter(pk=assessment.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    call_command("reap_assessments", stdout=out)
    assert f"failed 1 abandoned assessment(s): #{assessment.pk}" in out.getvalue()
    assessment.refresh_from_db()
    assert assessment.status == "failed" and assessment.error_code == "worker_lost"

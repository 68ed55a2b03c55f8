"""Running one assessment: read the data, run the model in the sandbox, compute, chart, store.

`execute(id)` is what every job mode calls (Celery task, background thread, inline). It claims
the assessment (doing nothing if it is not queued, so redelivery is harmless), renews its lease
while it works, and ends it succeeded with results, provenance and charts in one transaction, or
failed with a reason anyone can act on. The model itself only ever runs in the sandbox child;
this process handles data and numbers.
"""

import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from core.errors import ModelGateError
from governance.assessments import results_json
from governance.assessments.inputs import AssessmentInputError
from governance.jobs import evaluation_data, state
from governance.jobs.state import LeaseLost, Run
from governance.models import Assessment, AssessmentKind
from governance.sandbox import SandboxError, SandboxLimits, predict_in_sandbox, watching
from registry import storage

logger = logging.getLogger(__name__)

WORKER_LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "shap",
    "fairlearn",
    "matplotlib",
    "xgboost",
    "xgboost-cpu",
    "lightgbm",
    "onnxruntime",
    "skops",
)
MODEL_LIBRARY = {
    "skops": "scikit-learn",
    "pickle": "scikit-learn",
    "joblib": "scikit-learn",
    "xgboost-json": "xgboost",
    "xgboost-ubj": "xgboost",
    "lightgbm-text": "lightgbm",
    "onnx": "onnxruntime",
}


class Deferred(Exception):
    """The work went to chunk workers; the assessment finishes when the last chunk is merged."""


class AssessmentFailure(ModelGateError):
    """The job found, from the data or the model, that the assessment cannot be computed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


@dataclass
class Outcome:
    """What a kind computed: the results (without provenance) and what its charts need."""

    results: dict[str, Any]
    provenance: dict[str, Any]
    chart_inputs: dict[str, Any] = field(default_factory=dict)
    # How it was executed (chunks...): kept with the timings, never in the results, because it
    # must not change them.
    execution: dict[str, Any] = field(default_factory=dict)


def execute(assessment_id: int) -> None:
    """Run assessment `assessment_id` if it is queued; idempotent."""
    state.reap_safely()
    run = state.claim(assessment_id)
    if run is None:
        logger.info("assessment %s is not queued; nothing to do", assessment_id)
        return
    guarded(run, lambda timings: compute(run, timings))


def guarded(run: Run, work: Callable[[dict[str, float]], Outcome]) -> None:
    """Run `work` and end the assessment: succeeded with its outcome, or failed with the reason."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        with run.keep_alive(), watching(_sandbox_watcher(run)):
            outcome = work(timings)
            run.report(92, "drawing charts", force=True)
            with timed(timings, "charts"):
                charts = store_charts(outcome)
        provenance = outcome.provenance
        timings.update(outcome.execution)
        results = {**outcome.results, "provenance": provenance}
        encoded = results_json.to_bytes(results)
        timings["total"] = time.monotonic() - started
        if not run.succeed(
            results=results_json.loads(encoded),
            results_sha256=results_json.sha256(results),
            provenance=provenance,
            timings=_rounded(timings),
            charts=charts,
        ):
            logger.warning("assessment %s lost its lease before finishing", run.assessment_id)
    except Deferred:
        return
    except LeaseLost:
        logger.warning("assessment %s was taken from this worker; stopping", run.assessment_id)
    except Exception as exc:
        code, message = describe_failure(exc)
        if code == "internal_error":
            logger.exception("assessment %s failed unexpectedly", run.assessment_id)
        _fail(run, code, message, timings, started)


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(reason code, message) for a failed job, fit to show to the person who asked for it."""
    if isinstance(exc, SandboxError):
        return exc.code, f"the model failed in the sandbox: {exc.detail}"
    if isinstance(exc, AssessmentInputError):
        return "invalid_input", str(exc)
    if isinstance(exc, ModelGateError):
        return exc.code, exc.detail
    return "internal_error", f"{type(exc).__name__}: {exc}"


def _fail(run: Run, code: str, message: str, timings: dict, started: float) -> None:
    timings["total"] = time.monotonic() - started
    run.fail(code, message, timings=_rounded(timings))


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in timings.items()}


class timed:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.started = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = self.timings.get(self.name, 0.0) + time.monotonic() - self.started


def _sandbox_watcher(run: Run) -> Callable[[str], None]:
    def watch(stage: str) -> None:
        run.report(stage=f"model: {stage}")

    return watch


def sandbox_limits() -> SandboxLimits:
    return SandboxLimits(
        memory_bytes=settings.MODELGATE_SANDBOX_MEMORY_BYTES,
        cpu_seconds=settings.MODELGATE_SANDBOX_CPU_SECONDS,
        wall_seconds=settings.MODELGATE_SANDBOX_WALL_SECONDS,
        require_isolation=settings.MODELGATE_SANDBOX_REQUIRE_ISOLATION,
        hidden_paths=private_directories(),
    )


def private_directories() -> tuple[str, ...]:
    """What a model must never read: the database file's directory, stored files, var/."""
    found = [settings.VAR_DIR, settings.MEDIA_ROOT]
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        found.append(Path(str(database["NAME"])).parent)
    return tuple(sorted({os.path.realpath(p) for p in found}))


def compute(run: Run, timings: dict[str, float]) -> Outcome:
    assessment = Assessment.objects.select_related(
        "model_version__model", "dataset_version__dataset"
    ).get(pk=run.assessment_id)
    _check_digests(assessment)
    if assessment.kind == AssessmentKind.EXPLAINABILITY:
        from governance.jobs import explain_job

        return explain_job.compute(assessment, run, timings)
    return _fairness_or_performance(assessment, run, timings)


def _check_digests(assessment: Assessment) -> None:
    """The files must still be the ones the assessment was requested on."""
    version, dataset = assessment.model_version, assessment.dataset_version
    if version is not None and version.artifact_sha256 != assessment.artifact_sha256:
        raise AssessmentFailure(
            "stale_input", f"the artifact of {version} changed since the request"
        )
    if dataset.sha256 != assessment.dataset_sha256:
        raise AssessmentFailure("stale_input", f"dataset {dataset} changed since the request")


def _fairness_or_performance(assessment: Assessment, run: Run, timings: dict) -> Outcome:
    from governance.assessments.fairness import fairness_report
    from governance.assessments.performance import performance_report

    params = assessment.parameters
    dataset = assessment.dataset_version
    version = assessment.model_version
    target = dataset.target_column
    run.report(3, "reading the dataset", force=True)
    with timed(timings, "read_dataset"):
        if version is None:
            columns = [target, dataset.prediction_column, dataset.score_column]
        else:
            columns = [*evaluation_data.feature_columns(dataset, version), target]
        frame = evaluation_data.read_columns(dataset, [*columns, *assessment.sensitive_features])
    facts: dict[str, Any] = {}
    if version is None:
        y_true = evaluation_data.encode_target(frame[target], None)
        y_pred = frame[dataset.prediction_column].to_numpy()
        y_score = frame[dataset.score_column].to_numpy() if dataset.score_column else None
        task = _task(params["task"], y_true, None, has_model=False)
        pos_label = _pos_label(task, y_true, y_pred, params["pos_label"])
        if task == "binary" and params["decision"] == "threshold":
            if y_score is None:
                raise AssessmentInputError(
                    f"parameters.decision is 'threshold' but dataset {dataset} declares no "
                    "score column"
                )
            y_pred = None
    else:
        run.report(8, "running the model in the sandbox", force=True)
        features = frame[evaluation_data.feature_columns(dataset, version)]
        with (
            timed(timings, "predict"),
            storage.verified_copy(
                version.artifact_key, sha256=version.artifact_sha256, size=version.artifact_size
            ) as artifact,
        ):
            predicted = predict_in_sandbox(
                artifact,
                version.artifact_format,
                features,
                trusted_types=settings.MODELGATE_SKOPS_TRUSTED_TYPES,
                allow_pickle=settings.MODELGATE_ALLOW_PICKLE,
                want_proba=True,
                # Labels from predict() are only used when asked for, or for regression.
                want_labels=params["decision"] == "predictions" or params["task"] == "regression",
                limits=sandbox_limits(),
            )
        facts = model_facts(predicted.details, predicted.classes)
        timings["sandbox_peak_rss_bytes"] = predicted.details.get("peak_rss_bytes") or 0
        task = _task(params["task"], frame[target].to_numpy(), predicted.classes, has_model=True)
        if task == "binary":
            if not predicted.classes or len(predicted.classes) != 2:
                raise AssessmentFailure(
                    "unsupported_model",
                    f"a binary assessment needs a classifier with two classes; the model "
                    f"reports classes {predicted.classes!r} (for a regressor use "
                    "parameters.task = 'regression')",
                )
            evaluation_data.check_binary(frame[target])
        y_true = evaluation_data.encode_target(frame[target], version)
        y_pred, y_score = predicted.predictions, None
        pos_label = 1
        if task == "binary":
            classes = predicted.classes or []
            evaluation_data.check_target_matches(y_true, classes)
            pos_label = classes[1]
            if params["pos_label"] is not None:
                if params["pos_label"] not in classes:
                    raise AssessmentInputError(
                        f"parameters.pos_label {params['pos_label']!r} is not one of the model's "
                        f"classes {classes!r}"
                    )
                pos_label = params["pos_label"]
            if predicted.probabilities is not None and params["decision"] != "predictions":
                y_score = predicted.probabilities[:, classes.index(pos_label)]
                y_pred = None  # thresholded at parameters.threshold
            elif params["decision"] == "threshold":
                raise AssessmentInputError(
                    "parameters.decision is 'threshold' but the model has no probabilities"
                )
    run.report(60, "computing metrics", force=True)
    with timed(timings, "compute"):
        if assessment.kind == AssessmentKind.FAIRNESS:
            sensitive = frame[assessment.sensitive_features]
            results = fairness_report(
                y_true=y_true,
                y_pred=y_pred,
                y_score=y_score,
                sensitive=sensitive,
                task=task,
                threshold=params["threshold"],
                pos_label=pos_label,
                n_bootstrap=params["n_bootstrap"],
                seed=params["seed"],
                min_group_size=params["min_group_size"],
                confidence=params["confidence"],
                progress=lambda fraction, stage: run.report(60 + 30 * fraction, stage),
            )
        else:
            results = performance_report(
                y_true=y_true,
                y_pred=y_pred,
                y_score=y_score,
                task=task,
                threshold=params["threshold"],
                pos_label=pos_label,
            )
            results.setdefault("kind", "performance")
    provenance = provenance_of(
        assessment,
        rows_used=len(frame),
        sample_sizes={"rows": len(frame)},
        model_facts=facts,
    )
    return Outcome(results=results, provenance=provenance)


def _task(requested: str, y_true: np.ndarray, classes: list[Any] | None, *, has_model: bool) -> str:
    if requested != "auto":
        return requested
    if has_model:
        if classes is None:
            return "regression"
        if len(classes) == 2:
            return "binary"
        raise AssessmentFailure(
            "unsupported_model",
            f"the model has {len(classes)} classes; fairness and performance assessments "
            "support binary classifiers and regressors",
        )
    import pandas as pd

    values = np.asarray(y_true)
    distinct = pd.unique(values)
    integral = not np.issubdtype(values.dtype, np.floating) or all(
        float(v).is_integer() for v in distinct
    )
    if len(distinct) <= 2 and integral:
        return "binary"
    if np.issubdtype(values.dtype, np.number):
        return "regression"
    raise AssessmentFailure(
        "invalid_input",
        f"the target has {len(distinct)} distinct non-numeric values: it is neither "
        "binary nor a regression target",
    )


def _pos_label(task: str, y_true: np.ndarray, y_pred: np.ndarray, declared: Any) -> Any:
    """The positive label of predictions-only data: declared, or 1 (True) for 0/1 labels."""
    if task != "binary":
        return 1
    import pandas as pd

    in_target = pd.unique(y_true).tolist()
    labels = sorted({*in_target, *pd.unique(y_pred).tolist()}, key=str)
    if len(labels) > 2:
        raise AssessmentInputError(
            f"a binary assessment needs two labels; the target and the predictions together "
            f"have {len(labels)}: {labels[:10]!r}"
        )
    if declared is not None:
        if declared not in labels:
            raise AssessmentInputError(
                f"parameters.pos_label {declared!r} occurs in neither the target nor the "
                f"predictions ({labels[:10]!r})"
            )
        return declared
    if set(labels) <= {0, 1}:
        return 1
    raise AssessmentInputError(
        f"the labels are {labels[:10]!r}: say which one is the positive outcome with "
        "parameters.pos_label (only 0/1 labels default to 1)"
    )


def model_facts(details: dict[str, Any], classes: list[Any] | None) -> dict[str, Any]:
    return {
        "model_class": details.get("model_class"),
        "classes": classes,
        "python": details.get("python"),
        "library_versions": details.get("library_versions", {}),
        "isolated": bool(details.get("isolation", {}).get("complete")),
    }


def library_versions() -> dict[str, str]:
    found = {}
    for name in WORKER_LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def provenance_of(
    assessment: Assessment,
    *,
    rows_used: int,
    sample_sizes: dict[str, int],
    model_facts: dict[str, Any],
) -> dict[str, Any]:
    """What the result was computed from: enough to reproduce it, and for a policy to refuse
    evidence about other bytes. Deterministic, so it can sit inside the results."""
    version, dataset = assessment.model_version, assessment.dataset_version
    versions = library_versions()
    model_library = MODEL_LIBRARY.get(version.artifact_format) if version else None
    return {
        "model_version": str(version) if version else None,
        "artifact_sha256": assessment.artifact_sha256 or None,
        "artifact_format": version.artifact_format if version else None,
        "model_library": model_library,
        "model_library_version": (
            versions.get(model_library) or versions.get(f"{model_library}-cpu")
            if model_library
            else None
        ),
        "dataset_version": str(dataset),
        "dataset_sha256": assessment.dataset_sha256,
        "dataset_rows": dataset.row_count,
        "columns": {
            "target": dataset.target_column or None,
            "prediction": dataset.prediction_column or None if version is None else None,
            "score": dataset.score_column or None if version is None else None,
            "features": evaluation_data.feature_columns(dataset, version) if version else None,
        },
        "label_encoding": (version.parameters or {}).get("label_encoding") if version else None,
        "rows_used": rows_used,
        "sample_sizes": sample_sizes,
        "sensitive_features": list(assessment.sensitive_features),
        "parameters": dict(assessment.parameters),
        "seed": assessment.parameters.get("seed"),
        "python": platform.python_version(),
        "library_versions": versions,
        # As reported from inside the sandbox, by the process that ran the model.
        "model_runtime": model_facts,
    }


def store_charts(outcome: Outcome) -> list[dict[str, Any]]:
    """Draw the kind's charts and store each file by digest; rows are written at success."""
    from governance.assessments import charts as charting

    kind = outcome.results.get("kind")
    if kind == "fairness":
        drawn = charting.fairness_charts(outcome.results)
    elif kind == "explainability":
        drawn = charting.explainability_charts(
            outcome.results, outcome.chart_inputs.get("beeswarm")
        )
    else:
        drawn = charting.performance_charts(outcome.results)
    stored = []
    for chart in drawn:
        key, sha, size = storage.put_bytes("charts", chart.content)
        stored.append(
            {
                "name": chart.name,
                "title": chart.title[:200],
                "format": chart.format,
                "file_key": key,
                "sha256": sha,
                "size": size,
            }
        )
    return stored

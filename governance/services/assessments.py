"""Asking for an assessment: who may, what is checked before anything is queued, and queueing.

Every interface (API, admin action, `manage.py assess`, the demo) calls `request_assessment`.
What can be known from the records (permissions, columns, row limit, a duplicate still running)
is refused here with a clear error and writes nothing; what needs the data or the model (a
non-binary target, NaNs the model refuses, a model that crashes) fails the assessment with the
reason when the job runs.
"""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from audit import trail
from core import roles
from core.errors import Conflict, Forbidden, InvalidInput
from governance.assessments import parameters as assessment_parameters
from governance.assessments import results_json
from governance.models import ACTIVE, Assessment, AssessmentKind
from registry.models import DatasetVersion, EdgeKind, LineageEdge, ModelVersion
from registry.validation import is_violation_of


def can_request(user: Any, version: ModelVersion | None) -> bool:
    if not user.is_authenticated:
        return False
    if roles.is_admin(user):
        return True
    granted = roles.roles_of(user)
    if roles.AUDITOR in granted:
        return False
    if roles.VALIDATOR in granted:
        return True
    if roles.DATA_SCIENTIST in granted:
        return version is None or version.model.owner_team.has_member(user)
    return False


def _not_allowed(model_version: ModelVersion | None) -> Forbidden:
    subject = f"{model_version.model.name!r}" if model_version else "predictions"
    return Forbidden(
        f"only validators, data scientists of the owning team and admins can assess "
        f"{subject}; auditors read assessments but do not run them"
    )


def request_refusal(user: Any, version: ModelVersion | None) -> Forbidden | None:
    """Why `user` may not request assessments of `version` (None: they may)."""
    return None if can_request(user, version) else _not_allowed(version)


def declared_evaluation_dataset(version: ModelVersion) -> DatasetVersion | None:
    """The version's first declared evaluation dataset (evaluated_on), which policies read."""
    edge = (
        LineageEdge.objects.filter(
            subject_model_version=version,
            kind=EdgeKind.EVALUATED_ON,
            object_dataset_version__isnull=False,
        )
        .select_related("object_dataset_version__dataset")
        .order_by("id")
        .first()
    )
    return edge.object_dataset_version if edge is not None else None


def assess_on_declared_data(*, by: Any, version: ModelVersion, kind: str) -> Assessment:
    """Queue `kind` on the version's declared evaluation dataset, covering every sensitive
    feature it declares: the evidence the policies accept (the web pages' "run" buttons).

    Who may is decided first, so a person who may not assess learns that and nothing about the
    version's lineage; then a version without a declared evaluation dataset is refused (400)."""
    refusal = request_refusal(by, version)
    if refusal is not None:
        raise refusal
    dataset = declared_evaluation_dataset(version)
    if dataset is None:
        raise InvalidInput(
            f"{version} declares no evaluation dataset (evaluated_on): register one with the "
            f"version; the policies accept evidence only on declared evaluation data",
            code="no_evaluation_dataset",
        )
    return request_assessment(
        by=by,
        kind=kind,
        dataset_version=dataset,
        model_version=version,
        sensitive_features=list(dataset.sensitive_features or []),
    )


def request_assessment(
    *,
    by: Any,
    kind: str,
    dataset_version: DatasetVersion,
    model_version: ModelVersion | None = None,
    sensitive_features: list[str] | None = None,
    parameters: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> Assessment:
    """Check the request against the records and queue it; the job starts after commit
    (`enqueue=False`: the caller runs it, e.g. with `governance.jobs.runner.execute`).

    Refused (nothing written, nothing queued): the actor may not assess this model; an unknown
    kind or parameter; explainability without a model; a predictions-only assessment on a
    dataset without a prediction column; a dataset missing the model's features, the target or a
    sensitive feature; a dataset over MODELGATE_ASSESSMENT_MAX_ROWS; the same request while an
    identical one is queued or running (409).
    """
    if not can_request(by, model_version):
        raise _not_allowed(model_version)
    resolved = assessment_parameters.resolve(kind, parameters)
    sensitive = _sensitive_features(kind, dataset_version, sensitive_features)
    _check_dataset(kind, dataset_version, model_version, sensitive)
    key = results_json.sha256(
        {
            "kind": kind,
            "model_version": model_version.pk if model_version else None,
            "artifact_sha256": model_version.artifact_sha256 if model_version else "",
            "dataset_version": dataset_version.pk,
            "dataset_sha256": dataset_version.sha256,
            "sensitive_features": sensitive,
            "parameters": resolved,
        }
    )
    try:
        with transaction.atomic():
            if Assessment.objects.filter(request_key=key, status__in=ACTIVE).exists():
                raise _duplicate()
            assessment = Assessment.objects.create(
                kind=kind,
                model_version=model_version,
                dataset_version=dataset_version,
                sensitive_features=sensitive,
                parameters=resolved,
                request_key=key,
                artifact_sha256=model_version.artifact_sha256 if model_version else "",
                dataset_sha256=dataset_version.sha256,
                requested_by=by,
            )
            trail.record(
                assessment,
                "assessment.requested",
                by=by,
                data={
                    "kind": kind,
                    "model_version": str(model_version) if model_version else None,
                    "dataset_version": str(dataset_version),
                    "sensitive_features": sensitive,
                    "parameters": resolved,
                    "artifact_sha256": assessment.artifact_sha256,
                    "dataset_sha256": assessment.dataset_sha256,
                },
            )
            if enqueue:
                from governance.jobs import dispatch

                transaction.on_commit(lambda: dispatch.enqueue(assessment.pk))
    except IntegrityError as exc:
        if is_violation_of(exc, "one_active_identical_assessment"):
            raise _duplicate() from None
        raise
    return assessment


def _duplicate() -> Conflict:
    return Conflict(
        "an identical assessment (same kind, version, dataset, sensitive features and "
        "parameters) is already queued or running; wait for it instead of starting another",
        code="duplicate_assessment",
    )


def _sensitive_features(
    kind: str, dataset_version: DatasetVersion, given: list[str] | None
) -> list[str]:
    if given is None:
        given = list(dataset_version.sensitive_features)
    if not isinstance(given, list) or not all(isinstance(n, str) and n for n in given):
        raise InvalidInput(
            "sensitive_features must be a list of column names", field="sensitive_features"
        )
    if len(set(given)) != len(given):
        raise InvalidInput(
            "sensitive_features lists a column more than once", field="sensitive_features"
        )
    if kind == AssessmentKind.FAIRNESS and not given:
        raise InvalidInput(
            f"a fairness assessment needs sensitive features: give sensitive_features or declare "
            f"them on dataset {dataset_version}",
            code="no_sensitive_features",
            field="sensitive_features",
        )
    return list(given)


def _check_dataset(
    kind: str,
    dataset_version: DatasetVersion,
    model_version: ModelVersion | None,
    sensitive: list[str],
) -> None:
    columns = [column["name"] for column in dataset_version.schema]
    available = set(columns)
    limit = settings.MODELGATE_ASSESSMENT_MAX_ROWS
    if dataset_version.row_count > limit:
        raise InvalidInput(
            f"dataset {dataset_version} has {dataset_version.row_count} rows, over the limit of "
            f"{limit} rows per assessment (MODELGATE_ASSESSMENT_MAX_ROWS)",
            code="too_many_rows",
            field="dataset",
        )
    unknown = [name for name in sensitive if name not in available]
    if unknown:
        raise InvalidInput(
            f"unknown sensitive feature(s) {', '.join(map(repr, unknown))}: dataset "
            f"{dataset_version} has columns {', '.join(map(repr, columns))}",
            code="unknown_sensitive_feature",
            field="sensitive_features",
        )
    needs_target = kind in (AssessmentKind.FAIRNESS, AssessmentKind.PERFORMANCE)
    if needs_target and not dataset_version.target_column:
        raise InvalidInput(
            f"a {kind} assessment compares predictions with the truth, but dataset "
            f"{dataset_version} declares no target column",
            code="missing_target",
            field="dataset",
        )
    if model_version is None:
        if kind == AssessmentKind.EXPLAINABILITY:
            raise InvalidInput(
                "an explainability assessment needs a model version: SHAP values come from the "
                "model itself",
                code="model_required",
            )
        if not dataset_version.prediction_column:
            raise InvalidInput(
                f"a predictions-only assessment needs a dataset with a prediction column; "
                f"dataset {dataset_version} declares none",
                code="missing_predictions",
                field="dataset",
            )
        return
    missing = [name for name in model_version.feature_names if name not in available]
    if missing:
        raise InvalidInput(
            f"dataset {dataset_version} lacks the model's feature(s) "
            f"{', '.join(map(repr, missing))}",
            code="missing_features",
            field="dataset",
        )

"""Governed versions and their evidence for policy, gate and promotion tests.

Versions are factory rows (the gate reads records, never the artifact) with a complete model
card, lineage and code reference. Evidence is inserted as succeeded Assessment rows whose
results have the exact shape the real jobs write (see the demo and tests/governance/
test_fairness.py etc. for jobs producing them from real models); the checks read only these
records, so tests can choose the numbers that decide a verdict.
"""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from governance.models import Assessment, AssessmentStatus
from governance.services import policies
from registry.models import DatasetVersion, EdgeKind, LineageEdge, ModelVersion
from tests.factories import (
    DatasetFactory,
    DatasetVersionFactory,
    ModelVersionFactory,
    RegisteredModelFactory,
)

SENSITIVE = ("sex", "race")


def governed_version(
    *,
    registrant: Any,
    team: Any,
    risk_tier: str = "high",
    model: Any = None,
    evaluation_dataset: DatasetVersion | None = None,
    **fields: Any,
) -> ModelVersion:
    """A version with model card, code reference, trained_on and evaluated_on edges."""
    if model is None:
        model = RegisteredModelFactory(
            owner_team=team,
            risk_tier=risk_tier,
            created_by=registrant,
            title="Income classifier",
            description="Predicts whether income exceeds 50K.",
            intended_use="Pre-screening of credit applications, reviewed by a person.",
            limitations="Trained on 1994 US census data.",
        )
    number = (
        model.versions.order_by("-version").values_list("version", flat=True).first() or 0
    ) + 1
    version = ModelVersionFactory(
        model=model,
        version=number,
        created_by=registrant,
        code_repository="https://git.example.org/credit/income",
        code_commit=f"{number:040x}",
        **fields,
    )
    train = DatasetVersionFactory(dataset=DatasetFactory(), created_by=registrant)
    evaluation = evaluation_dataset or eval_dataset(registrant)
    LineageEdge.objects.create(
        kind=EdgeKind.TRAINED_ON,
        subject_model_version=version,
        object_dataset_version=train,
        created_by=registrant,
    )
    LineageEdge.objects.create(
        kind=EdgeKind.EVALUATED_ON,
        subject_model_version=version,
        object_dataset_version=evaluation,
        created_by=registrant,
    )
    return version


def eval_dataset(by: Any, name: str = "adult-eval") -> DatasetVersion:
    dataset = DatasetFactory._meta.model.objects.filter(name=name).first() or DatasetFactory(
        name=name, created_by=by
    )
    existing = dataset.versions.first()
    return existing or DatasetVersionFactory(
        dataset=dataset, created_by=by, sensitive_features=list(SENSITIVE)
    )


def performance_results(**metrics: float) -> dict[str, Any]:
    values = {"accuracy": 0.85, "roc_auc": 0.9, "log_loss": 0.32, "f1": 0.66}
    values.update(metrics)
    return {"kind": "performance", "task": "binary", "metrics": values, "null_reasons": {}}


def fairness_results(
    disparities: dict[str, dict[str, float]] | None = None,
    *,
    counts: dict[str, dict[str, int]] | None = None,
    ci_width: float = 0.02,
) -> dict[str, Any]:
    """Fairness results in the jobs' shape: disparities per feature with intervals, group
    counts in by_feature, the sex x race intersection."""
    disparities = disparities or {
        "sex": {"demographic_parity_difference": 0.05, "equalized_odds_difference": 0.04},
        "race": {"demographic_parity_difference": 0.06, "equalized_odds_difference": 0.05},
    }
    counts = counts or {
        "sex": {"Female": 5000, "Male": 10000},
        "race": {"White": 12000, "Black": 1500, "Other": 135},
    }
    shaped = {}
    for feature, metrics in disparities.items():
        shaped[feature] = {
            **metrics,
            "ci": {m: [max(0.0, v - ci_width), v + ci_width] for m, v in metrics.items()},
            "groups_compared": sorted(counts.get(feature, {})),
        }
    return {
        "kind": "fairness",
        "disparities": shaped,
        "by_feature": {
            feature: {group: {"count": n} for group, n in groups.items()}
            for feature, groups in counts.items()
        },
        "intersection": {"feature": "sex\N{MULTIPLICATION SIGN}race", "of": ["sex", "race"]},
    }


def explainability_results(share: float = 0.05) -> dict[str, Any]:
    return {
        "kind": "explainability",
        "additivity": {"max_abs_error": 1e-12, "tolerance": 1e-6, "within_tolerance": True},
        "method": {"explainer": "linear closed form"},
        "n_rows_explained": 1000,
        "sensitive_share": {
            "features": list(SENSITIVE),
            "by_feature": {"sex": share * 0.6, "race": share * 0.4},
            "absent": [],
            "share": share,
        },
    }


RESULTS = {
    "performance": performance_results,
    "fairness": fairness_results,
    "explainability": explainability_results,
}


def evidence(
    version: ModelVersion,
    kind: str,
    results: dict[str, Any] | None = None,
    *,
    by: Any = None,
    dataset_version: DatasetVersion | None = None,
    age_days: float = 0,
    artifact_sha256: str | None = None,
) -> Assessment:
    """A succeeded assessment row of `version` on its evaluation dataset."""
    if dataset_version is None:
        edge = version.upstream_edges.filter(kind=EdgeKind.EVALUATED_ON).first()
        dataset_version = edge.object_dataset_version
    finished = timezone.now() - timedelta(days=age_days)
    return Assessment.objects.create(
        kind=kind,
        model_version=version,
        dataset_version=dataset_version,
        sensitive_features=list(SENSITIVE) if kind != "performance" else [],
        parameters={},
        request_key=f"test-{kind}-{version.pk}-{Assessment.objects.count()}",
        artifact_sha256=artifact_sha256 or version.artifact_sha256,
        dataset_sha256=dataset_version.sha256,
        status=AssessmentStatus.SUCCEEDED,
        progress=100,
        stage="done",
        results=results if results is not None else RESULTS[kind](),
        results_sha256="0" * 64,
        requested_by=by or version.created_by,
        started_at=finished,
        finished_at=finished,
    )


def full_evidence(version: ModelVersion, **overrides: dict[str, Any]) -> list[Assessment]:
    return [evidence(version, kind, overrides.get(kind)) for kind in RESULTS]


def approved(version: ModelVersion, *, requester: Any, reviewers: list[Any]) -> Any:
    """A production request for `version`, approved by each reviewer in turn (the last approval
    runs the gate); the request as it ends."""
    from governance.services import promotions

    request = promotions.open_request(
        by=requester, version=version, target_stage="production", justification="validated"
    )
    for reviewer in reviewers:
        request = promotions.review(by=reviewer, request=request, decision="approve", comment="ok")
    return request


def install_default_pack(by: Any) -> None:
    policies.install_pack(by=by)


def simple_policy(
    by: Any,
    *,
    name: str = "test-policy",
    roles: dict[str, int] | None = None,
    tiers: tuple[str, ...] = ("minimal", "limited", "high"),
    stages: tuple[str, ...] = ("staging", "production"),
    checks: list[dict[str, Any]] | None = None,
) -> Any:
    """A policy that passes on the standard evidence and needs `roles` approvals."""
    document = {
        "name": name,
        "scope": {"risk_tiers": list(tiers), "target_stages": list(stages)},
        "checks": [
            {"id": "safe", "type": "artifact_safety"},
            {"id": "auc", "type": "metric_threshold", "metric": "roc_auc", "min": 0.8},
            *(checks or []),
            {"id": "approvals", "type": "approvals", "roles": roles or {"validator": 1}},
        ],
    }
    return policies.save_policy(by=by, source=document)

"""Building the EvidenceContext that checks read: a fixed number of queries per evaluation,
whatever the number of versions, assessments or reviews."""

from datetime import datetime
from typing import Any

from governance.models import (
    Assessment,
    AssessmentStatus,
    Finding,
    PromotionRequest,
    Review,
    ReviewDecision,
)
from governance.models.findings import UNRESOLVED
from governance.policies.context import (
    ApprovalFacts,
    AssessmentFacts,
    EvidenceContext,
    FindingFacts,
    RequestFacts,
    VersionFacts,
)
from registry.models import EdgeKind, LineageEdge, ModelVersion, Stage


def build(
    version: ModelVersion,
    target_stage: str,
    *,
    now: datetime,
    request: PromotionRequest | None = None,
) -> EvidenceContext:
    version = ModelVersion.objects.select_related("model", "created_by", "parent").get(
        pk=version.pk
    )
    production = (
        ModelVersion.objects.select_related("model", "created_by", "parent")
        .filter(model_id=version.model_id, stage=Stage.PRODUCTION)
        .exclude(pk=version.pk)
        .first()
    )
    versions = [version] + ([production] if production else [])
    edges = _edges(versions)
    assessments = _assessments(versions)
    findings = _findings(versions)
    return EvidenceContext(
        version=_facts(version, edges, assessments, findings),
        target_stage=target_stage,
        risk_tier=version.model.risk_tier,
        now=now,
        production=_facts(production, edges, assessments, findings) if production else None,
        request=_request_facts(request) if request is not None else None,
    )


def _edges(versions: list[ModelVersion]) -> dict[int, dict[str, list[tuple[str, str]]]]:
    found: dict[int, dict[str, list[tuple[str, str]]]] = {
        v.pk: {EdgeKind.TRAINED_ON: [], EdgeKind.EVALUATED_ON: []} for v in versions
    }
    edges = (
        LineageEdge.objects.filter(
            subject_model_version__in=versions,
            kind__in=(EdgeKind.TRAINED_ON, EdgeKind.EVALUATED_ON),
            object_dataset_version__isnull=False,
        )
        .select_related("object_dataset_version__dataset")
        .order_by("id")
    )
    for edge in edges:
        dataset_version = edge.object_dataset_version
        found[edge.subject_model_version_id][edge.kind].append(
            (str(dataset_version), dataset_version.sha256)
        )
    return found


def _assessments(versions: list[ModelVersion]) -> dict[int, list[AssessmentFacts]]:
    found: dict[int, list[AssessmentFacts]] = {v.pk: [] for v in versions}
    rows = (
        Assessment.objects.filter(model_version__in=versions, status=AssessmentStatus.SUCCEEDED)
        .select_related("dataset_version__dataset")
        .order_by("-finished_at", "-id")
    )
    for row in rows:
        found[row.model_version_id].append(
            AssessmentFacts(
                id=row.pk,
                kind=row.kind,
                artifact_sha256=row.artifact_sha256,
                dataset=row.dataset_version.dataset.name,
                dataset_version=str(row.dataset_version),
                dataset_sha256=row.dataset_sha256,
                sensitive_features=tuple(row.sensitive_features),
                finished_at=row.finished_at,
                results=row.results or {},
                declared_features=tuple(row.dataset_version.sensitive_features or ()),
            )
        )
    return found


def _findings(versions: list[ModelVersion]) -> dict[int, list[FindingFacts]]:
    found: dict[int, list[FindingFacts]] = {v.pk: [] for v in versions}
    rows = (
        Finding.objects.filter(model_version__in=versions, status__in=UNRESOLVED)
        .order_by("created_at", "id")
        .values_list("model_version_id", "id", "title", "severity", "status")
    )
    for version_id, pk, title, severity, status in rows:
        found[version_id].append(FindingFacts(pk, title, severity, status))
    return found


def _facts(
    version: ModelVersion,
    edges: dict[int, dict[str, list[tuple[str, str]]]],
    assessments: dict[int, list[AssessmentFacts]],
    findings: dict[int, list[FindingFacts]],
) -> VersionFacts:
    model = version.model
    card: dict[str, Any] = {
        "title": model.title,
        "description": model.description,
        "intended_use": model.intended_use,
        "limitations": model.limitations,
        "tags": list(model.tags or []),
        "version_description": version.description,
    }
    return VersionFacts(
        id=version.pk,
        ref=str(version),
        artifact_sha256=version.artifact_sha256,
        artifact_format=version.artifact_format,
        is_unsafe=version.is_unsafe,
        stage=version.stage,
        code_repository=version.code_repository,
        code_commit=version.code_commit,
        parent=str(version.parent) if version.parent_id else None,
        training_datasets=tuple(edges[version.pk][EdgeKind.TRAINED_ON]),
        evaluation_datasets=tuple(edges[version.pk][EdgeKind.EVALUATED_ON]),
        model_card=card,
        registered_by=version.created_by.get_username(),
        assessments=tuple(assessments[version.pk]),
        findings=tuple(findings[version.pk]),
    )


def _request_facts(request: PromotionRequest) -> RequestFacts:
    approvals = (
        Review.objects.filter(request=request, decision=ReviewDecision.APPROVE)
        .select_related("reviewer")
        .order_by("created_at", "id")
    )
    return RequestFacts(
        id=request.pk,
        requested_by=request.requested_by.get_username(),
        created_at=request.created_at,
        approvals=tuple(
            ApprovalFacts(reviewer=r.reviewer.get_username(), role=r.role, created_at=r.created_at)
            for r in approvals
        ),
    )

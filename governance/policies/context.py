"""The evidence a check may read: plain frozen data, built once per evaluation by
`governance.services.evidence` with a constant number of queries."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AssessmentFacts:
    id: int
    kind: str
    artifact_sha256: str
    dataset: str  # dataset name
    dataset_version: str  # "name:version"
    dataset_sha256: str
    sensitive_features: tuple[str, ...]
    finished_at: datetime
    results: dict[str, Any]
    # The sensitive features the dataset version declares (the assessment may cover fewer).
    declared_features: tuple[str, ...] = ()


@dataclass(frozen=True)
class FindingFacts:
    id: int
    title: str
    severity: str
    status: str


@dataclass(frozen=True)
class VersionFacts:
    id: int
    ref: str  # "model:version"
    artifact_sha256: str
    artifact_format: str
    is_unsafe: bool
    stage: str
    code_repository: str
    code_commit: str
    parent: str | None
    # (dataset version ref, sha256) of every trained_on / evaluated_on edge.
    training_datasets: tuple[tuple[str, str], ...]
    evaluation_datasets: tuple[tuple[str, str], ...]
    model_card: dict[str, Any]
    registered_by: str
    assessments: tuple[AssessmentFacts, ...] = ()  # succeeded, newest first
    findings: tuple[FindingFacts, ...] = ()  # unresolved validation findings, oldest first

    @property
    def evaluation_dataset_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(ref.rsplit(":", 1)[0] for ref, _ in self.evaluation_datasets))

    def evidence(
        self,
        kind: str,
        *,
        dataset: str | None = None,
        dataset_version: str | None = None,
        exact_artifact: bool = True,
        datasets: tuple[str, ...] | None = None,
    ) -> Iterable[AssessmentFacts]:
        """Succeeded assessments of `kind`, newest first, on this exact artifact digest and, when
        given, on a version of `dataset` (name) or one of `datasets`, or on exactly
        `dataset_version`."""
        for facts in self.assessments:
            if facts.kind != kind:
                continue
            if exact_artifact and facts.artifact_sha256 != self.artifact_sha256:
                continue
            if dataset is not None and facts.dataset != dataset:
                continue
            if datasets is not None and facts.dataset not in datasets:
                continue
            if dataset_version is not None and facts.dataset_version != dataset_version:
                continue
            yield facts


@dataclass(frozen=True)
class ApprovalFacts:
    reviewer: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class RequestFacts:
    id: int
    requested_by: str
    created_at: datetime
    approvals: tuple[ApprovalFacts, ...] = ()


@dataclass(frozen=True)
class EvidenceContext:
    version: VersionFacts
    target_stage: str
    risk_tier: str
    now: datetime
    production: VersionFacts | None = None
    request: RequestFacts | None = None
    # Extra facts later check types read (findings, say), keyed by name.
    extra: dict[str, Any] = field(default_factory=dict)

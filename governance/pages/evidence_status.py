"""Which evidence the policies of a request still lack, and whether the signed-in person may
queue it.

For each assessment kind the pinned policies' checks read (metric_threshold: performance,
fairness_threshold: fairness, explainability: explainability, evidence_freshness: its kinds),
the newest succeeded assessment counts when it is about this exact artifact digest, on a
dataset the checks accept (the one a check names, else the version's declared evaluation
datasets), covers every sensitive feature the dataset declares (fairness and explainability),
and is no older than the strictest `max_age_days`. These follow the checks' rules
(governance.policies.checks) closely but not in every detail (freshness here is judged on the
newest covering run, a check's own `features` list is not read): this panel is a guide to what
to run before the gate is asked; the gate's verdicts in the checks table are what decide.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from governance.models import (
    ACTIVE,
    Assessment,
    AssessmentKind,
    AssessmentStatus,
    PolicyVersion,
    PromotionRequest,
)
from governance.services import assessments as assessment_service
from registry.models import DatasetVersion

CHECK_KINDS = {
    "metric_threshold": (AssessmentKind.PERFORMANCE,),
    "fairness_threshold": (AssessmentKind.FAIRNESS,),
    "explainability": (AssessmentKind.EXPLAINABILITY,),
}
FRESHNESS = "evidence_freshness"
CHECK_KINDS_ALL = (
    AssessmentKind.PERFORMANCE,
    AssessmentKind.FAIRNESS,
    AssessmentKind.EXPLAINABILITY,
)
COVERS_FEATURES = (AssessmentKind.FAIRNESS, AssessmentKind.EXPLAINABILITY)


@dataclass
class Need:
    """What the checks ask of one kind of evidence."""

    kind: str
    datasets: tuple[str, ...]  # dataset names that count
    max_age_days: int | None
    checks: list[str]  # "policy/check-id" that read it


@dataclass(frozen=True)
class KindStatus:
    kind: str
    state: str  # "present", "missing", "stale", "incomplete"
    reason: str
    checks: tuple[str, ...]
    datasets: tuple[str, ...]
    max_age_days: int | None
    usable: Assessment | None  # the assessment that counts, when present
    newest: Assessment | None  # the newest candidate evidence, usable or not
    age_days: float | None
    active: Assessment | None  # queued or running, with its progress
    may_queue: bool
    queue_refusal: str | None  # why this person cannot queue it

    @property
    def is_missing(self) -> bool:
        return self.state != "present"

    @property
    def button_label(self) -> str:
        return f"Run {self.kind} assessment"


@dataclass(frozen=True)
class EvidenceStatus:
    kinds: tuple[KindStatus, ...]
    dataset: DatasetVersion | None  # what a queued assessment runs on
    sensitive_features: tuple[str, ...]

    @property
    def missing(self) -> tuple[KindStatus, ...]:
        return tuple(k for k in self.kinds if k.is_missing)

    @property
    def complete(self) -> bool:
        return not self.missing


def needs(policy_versions: list[PolicyVersion], declared: tuple[str, ...]) -> dict[str, Need]:
    """The kinds of evidence the checks of `policy_versions` read, in the checks' order."""
    found: dict[str, Need] = {}
    for policy_version in policy_versions:
        for check in policy_version.checks:
            if not isinstance(check, dict):
                continue
            kind_of = check.get("type")
            params = check.get("params", {}) or {}
            if kind_of == FRESHNESS:
                kinds = tuple(params.get("kinds") or CHECK_KINDS_ALL)
                age = params.get("max_age_days")
            elif kind_of in CHECK_KINDS:
                kinds, age = CHECK_KINDS[kind_of], None
            else:
                continue
            datasets = (params["dataset"],) if params.get("dataset") else declared
            label = f"{policy_version.policy.name}/{check.get('id')}"
            for kind in kinds:
                need = found.setdefault(kind, Need(kind, (), None, []))
                need.datasets = tuple(dict.fromkeys(need.datasets + datasets))
                if isinstance(age, int):
                    need.max_age_days = (
                        age if need.max_age_days is None else min(need.max_age_days, age)
                    )
                need.checks.append(label)
    return found


def _covers(assessment: Assessment, features: tuple[str, ...]) -> list[str]:
    """The declared sensitive features `assessment` does not cover."""
    results = assessment.results or {}
    if assessment.kind == AssessmentKind.FAIRNESS:
        covered = set(results.get("disparities", {}))
    else:
        share = results.get("sensitive_share", {})
        covered = set(share.get("by_feature", {})) | set(share.get("absent", []))
    return [name for name in features if name not in covered]


def _status(
    need: Need,
    rows: list[Assessment],
    active: Assessment | None,
    *,
    features: tuple[str, ...],
    now: datetime,
    not_allowed: str | None,
    dataset: DatasetVersion | None,
) -> KindStatus:
    on_data = [a for a in rows if a.dataset_version.dataset.name in need.datasets]
    newest = on_data[0] if on_data else None
    usable, state, reason, age = None, "missing", "", None
    where = " or ".join(need.datasets) or "no declared evaluation dataset"
    if not need.datasets:
        reason = "the version declares no evaluation dataset, so no evidence can count"
    elif newest is None:
        reason = f"no succeeded {need.kind} assessment of this artifact on {where}"
    else:
        covering = (
            [a for a in on_data if not _covers(a, features)]
            if need.kind in COVERS_FEATURES
            else on_data
        )
        candidate = covering[0] if covering else None
        if candidate is None:
            state = "incomplete"
            reason = (
                f"assessment #{newest.id} does not cover the declared sensitive feature(s) "
                f"{', '.join(_covers(newest, features))}"
            )
        else:
            age = (now - candidate.finished_at).total_seconds() / 86400
            limit = need.max_age_days
            if limit is not None and candidate.finished_at < now - timedelta(days=limit):
                state = "stale"
                reason = (
                    f"the newest usable {need.kind} assessment (#{candidate.id}) is "
                    f"{age:.0f} days old; the policies accept at most {limit} days"
                )
            else:
                state, usable = "present", candidate
                reason = f"assessment #{candidate.id} on {candidate.dataset_version}"
    refusal = None
    if state != "present":
        if not_allowed is not None:
            refusal = not_allowed
        elif dataset is None:
            refusal = "the version declares no evaluation dataset to assess on"
        elif active is not None:
            refusal = f"assessment #{active.pk} is already {active.status}"
    return KindStatus(
        kind=need.kind,
        state=state,
        reason=reason,
        checks=tuple(need.checks),
        datasets=need.datasets,
        max_age_days=need.max_age_days,
        usable=usable,
        newest=newest,
        age_days=age,
        active=active,
        may_queue=state != "present" and refusal is None,
        queue_refusal=refusal,
    )


def build(
    user: Any,
    request: PromotionRequest,
    *,
    evaluation_datasets: list[DatasetVersion],
    policy_versions: list[PolicyVersion] | None = None,
    succeeded: list[Assessment] | None = None,
    now: datetime,
) -> EvidenceStatus:
    """The evidence status of `request`'s version. `succeeded`: its succeeded assessments on
    this artifact, newest first, when the caller has them (else one query); the active ones
    are one more query."""
    version = request.model_version
    if policy_versions is None:
        policy_versions = list(request.policy_versions.select_related("policy"))
    declared = tuple(dict.fromkeys(d.dataset.name for d in evaluation_datasets))
    wanted = needs(policy_versions, declared)
    if succeeded is None:
        succeeded = list(
            Assessment.objects.filter(
                model_version=version,
                artifact_sha256=version.artifact_sha256,
                status=AssessmentStatus.SUCCEEDED,
            )
            .select_related("dataset_version__dataset")
            .defer("provenance", "timings")
            .order_by("-finished_at", "-id")
        )
    active: dict[str, Assessment] = {}
    if wanted:
        for row in (
            Assessment.objects.filter(model_version=version, status__in=ACTIVE)
            .only("id", "kind", "status", "progress", "stage", "created_at", "model_version_id")
            .order_by("-created_at", "-id")
        ):
            active.setdefault(row.kind, row)
    dataset = evaluation_datasets[0] if evaluation_datasets else None
    features = tuple(dataset.sensitive_features or ()) if dataset else ()
    denied = assessment_service.request_refusal(user, version) if wanted else None
    kinds = tuple(
        _status(
            need,
            [
                a
                for a in succeeded
                if a.kind == kind and a.artifact_sha256 == version.artifact_sha256
            ],
            active.get(kind),
            features=features,
            now=now,
            not_allowed=denied.detail if denied is not None else None,
            dataset=dataset,
        )
        for kind, need in wanted.items()
    )
    return EvidenceStatus(kinds=kinds, dataset=dataset, sensitive_features=features)

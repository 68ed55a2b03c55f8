"""A version's page: its facts and stage, its lineage, every assessment of it with key figures and
charts, its promotion requests, its findings, and what the signed-in person may do here (request
promotion, queue an assessment).

Bounded queries: the version with its model, team, registrant and parent; the lineage
(`registry.lineage.lineage_graph`, depth one, fixed queries); the assessments and their charts
(two); the requests (one); the findings panel (governance.pages.findings, two); the permission
questions (a team membership each).
"""

from dataclasses import dataclass
from typing import Any

from core.errors import NotFound
from governance.models import (
    ACTIVE,
    ACTIVE_REQUEST,
    Assessment,
    AssessmentKind,
    PromotionRequest,
    TargetStage,
)
from governance.pages import access
from governance.pages import findings as findings_page
from governance.services import assessments as assessment_service
from governance.services import promotions
from registry.lineage import lineage_graph
from registry.models import DatasetVersion, EdgeKind, LineageEdge, ModelVersion

# Key figures shown per assessment kind, in this order, when the results hold them.
PERFORMANCE_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "brier_score",
    "mae",
    "rmse",
    "r2",
)
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "f1": "F1",
    "log_loss": "log loss",
    "brier_score": "Brier score",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R\N{SUPERSCRIPT TWO}",
}
FAIRNESS_METRICS = ("demographic_parity_difference", "equalized_odds_difference")
TOP_FEATURES = 5


@dataclass(frozen=True)
class Figure:
    label: str
    value: Any
    is_number: bool

    @property
    def places(self) -> int:
        """Decimal places to show: none for counts."""
        return 0 if isinstance(self.value, int) else 4


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    extension: str  # "svg" preferred over "png" when both exist
    alt: str


@dataclass(frozen=True)
class AssessmentRow:
    assessment: Assessment
    figures: tuple[Figure, ...]
    charts: tuple[Chart, ...]

    @property
    def is_running(self) -> bool:
        return self.assessment.status in ACTIVE


@dataclass(frozen=True)
class DatasetLink:
    kind: str  # "trained on", "evaluated on"
    dataset_version: DatasetVersion


@dataclass(frozen=True)
class VersionLink:
    kind: str
    version: ModelVersion
    # False: another team's model the reader may not see; shown without its name.
    visible: bool = True


@dataclass(frozen=True)
class Lineage:
    datasets: tuple[DatasetLink, ...]
    parents: tuple[VersionLink, ...]  # upstream model versions (derived from, replaces)
    children: tuple[VersionLink, ...]  # model versions derived from this one
    downstream_datasets: tuple[DatasetLink, ...]


@dataclass(frozen=True)
class StageChoice:
    value: str
    label: str


@dataclass(frozen=True)
class KindChoice:
    value: str
    label: str


@dataclass(frozen=True)
class VersionPage:
    version: ModelVersion
    lineage: Lineage
    evaluation_dataset: DatasetVersion | None
    assessments: tuple[AssessmentRow, ...]
    requests: tuple[PromotionRequest, ...]  # newest first
    active_request: PromotionRequest | None
    findings: Any  # governance.pages.findings.FindingsPanel
    may_request_promotion: bool
    target_stages: tuple[StageChoice, ...]
    may_assess: bool
    assessment_kinds: tuple[KindChoice, ...]
    # The PDF dossier arrives with the dossier issue, which fills this in; until then the page
    # says there is none rather than linking to nothing.
    dossier_url: str | None = None

    @property
    def model(self) -> Any:
        return self.version.model

    @property
    def shows_request_form(self) -> bool:
        return (
            self.may_request_promotion and self.active_request is None and bool(self.target_stages)
        )

    @property
    def shows_assess_forms(self) -> bool:
        return self.may_assess and self.evaluation_dataset is not None


def find_version(name: str, number: int) -> ModelVersion:
    version = (
        ModelVersion.objects.select_related(
            "model__owner_team", "model__created_by", "created_by", "parent__model"
        )
        .filter(model__name=name, version=number)
        .first()
    )
    if version is None:
        raise NotFound(f"no version {number} of a model named {name!r}", code="version_not_found")
    return version


def evaluation_dataset_of(edges: list[LineageEdge], version: ModelVersion) -> DatasetVersion | None:
    """The dataset version `version` declares it is evaluated on (the first such edge)."""
    for edge in edges:
        if (
            edge.kind == EdgeKind.EVALUATED_ON
            and edge.subject_model_version_id == version.pk
            and edge.object_dataset_version is not None
        ):
            return edge.object_dataset_version
    return None


def lineage(version: ModelVersion, user: Any) -> tuple[Lineage, list[LineageEdge]]:
    graph = lineage_graph(version, max_depth=1)
    teams = access.visible_teams(user)
    datasets, parents, children, downstream = [], [], [], []
    for edge in graph.edges:
        kind = EdgeKind(edge.kind).label
        if edge.subject_model_version_id == version.pk:
            if edge.object_dataset_version is not None:
                datasets.append(DatasetLink(kind, edge.object_dataset_version))
            elif edge.object_model_version is not None:
                parents.append(
                    VersionLink(
                        kind,
                        edge.object_model_version,
                        access.shows(teams, edge.object_model_version.model),
                    )
                )
        elif edge.object_model_version_id == version.pk:
            if edge.subject_model_version is not None:
                children.append(
                    VersionLink(
                        kind,
                        edge.subject_model_version,
                        access.shows(teams, edge.subject_model_version.model),
                    )
                )
            elif edge.subject_dataset_version is not None:
                downstream.append(DatasetLink(kind, edge.subject_dataset_version))
    if version.parent is not None and not any(p.version.pk == version.parent_id for p in parents):
        # The registry records the parent on the version too; show it even without an edge.
        parents.append(
            VersionLink(
                EdgeKind.DERIVED_FROM.label,
                version.parent,
                access.shows(teams, version.parent.model),
            )
        )
    return (
        Lineage(
            datasets=tuple(datasets),
            parents=tuple(parents),
            children=tuple(children),
            downstream_datasets=tuple(downstream),
        ),
        graph.edges,
    )


def figures(assessment: Assessment) -> tuple[Figure, ...]:
    """The few numbers that summarise an assessment's results."""
    results = assessment.results or {}
    found: list[Figure] = []
    if assessment.kind == AssessmentKind.PERFORMANCE:
        metrics = results.get("metrics") or {}
        for name in PERFORMANCE_METRICS:
            if isinstance(metrics.get(name), int | float):
                found.append(Figure(METRIC_LABELS.get(name, name), metrics[name], True))
        if isinstance(results.get("n_rows"), int):
            found.append(Figure("rows", results["n_rows"], True))
    elif assessment.kind == AssessmentKind.FAIRNESS:
        for feature, disparity in (results.get("disparities") or {}).items():
            for name in FAIRNESS_METRICS:
                value = (disparity or {}).get(name)
                if isinstance(value, int | float):
                    label = f"{name.replace('_', ' ')} ({feature})"
                    found.append(Figure(label, value, True))
    elif assessment.kind == AssessmentKind.EXPLAINABILITY:
        share = (results.get("sensitive_share") or {}).get("share")
        if isinstance(share, int | float):
            found.append(Figure("share of attribution on sensitive features", share, True))
        ranking = results.get("ranking") or []
        if ranking:
            found.append(Figure("top features", ", ".join(map(str, ranking[:TOP_FEATURES])), False))
        method = (results.get("method") or {}).get("explainer")
        if method:
            found.append(Figure("explainer", str(method), False))
    return tuple(found)


def charts(assessment: Assessment) -> tuple[Chart, ...]:
    """One chart per name (SVG when there is one, else PNG), in the order they were stored."""
    chosen: dict[str, Any] = {}
    for chart in assessment.charts.all():
        current = chosen.get(chart.name)
        if current is None or (current.format != "svg" and chart.format == "svg"):
            chosen[chart.name] = chart
    return tuple(
        Chart(
            name=c.name,
            title=c.title or c.name,
            extension=c.format,
            alt=f"{c.title or c.name} (chart of {assessment.kind} assessment #{assessment.pk})",
        )
        for c in chosen.values()
    )


def build(user: Any, name: str, number: int, *, next_url: str) -> VersionPage:
    """Raises NotFound for an unknown version, Forbidden for a model `user` may not see."""
    version = find_version(name, number)
    access.require_model(user, version.model)
    found_lineage, edges = lineage(version, user)
    assessments = (
        Assessment.objects.filter(model_version=version)
        .select_related("dataset_version__dataset", "requested_by")
        .prefetch_related("charts")
        .order_by("-created_at", "-id")
    )
    rows = tuple(AssessmentRow(a, figures(a), charts(a)) for a in assessments)
    requests = tuple(
        PromotionRequest.objects.filter(model_version=version)
        .select_related("requested_by")
        .order_by("-created_at", "-id")
    )
    active = next((r for r in requests if r.status in ACTIVE_REQUEST), None)
    may_request = promotions.can_request(user, version.model)
    may_assess = assessment_service.can_request(user, version)
    return VersionPage(
        version=version,
        lineage=found_lineage,
        evaluation_dataset=evaluation_dataset_of(edges, version),
        assessments=rows,
        requests=requests,
        active_request=active,
        findings=findings_page.panel(user, version, next_url=next_url),
        may_request_promotion=may_request,
        target_stages=tuple(
            StageChoice(value, str(label))
            for value, label in TargetStage.choices
            if value != version.stage
        ),
        may_assess=may_assess,
        assessment_kinds=tuple(KindChoice(v, str(label)) for v, label in AssessmentKind.choices),
        dossier_url=None,
    )

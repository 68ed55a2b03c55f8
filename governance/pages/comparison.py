"""A candidate version next to the version in production: performance, fairness, what drives the
predictions, and the artifact itself. Every number (differences, better/worse, shares) is
computed here; the template only lays them out.

Evidence counts only when it is about these exact bytes (the assessment's artifact digest is the
version's) and, when the candidate declares evaluation datasets, it is preferred on those for
both sides, so the two columns are measured on the same data whenever that data exists. Each
number says which dataset it is on; a difference is given only between numbers on the same
dataset version. Two queries whatever the number of versions and assessments.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from governance.models import Assessment, AssessmentChart, AssessmentKind, AssessmentStatus
from governance.policies.checks.base import finite
from governance.policies.checks.fairness import DIFFERENCES
from governance.policies.checks.performance import HIGHER_IS_BETTER
from registry.models import DatasetVersion, ModelVersion

# The order metrics are shown in (those a run did not compute are left out).
METRIC_ORDER = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "brier_score",
    "r2",
    "mae",
    "rmse",
)
TOP_FEATURES = 10
# Two numbers closer than this are shown as equal rather than better or worse.
EPSILON = 1e-12
KINDS = (AssessmentKind.PERFORMANCE, AssessmentKind.FAIRNESS, AssessmentKind.EXPLAINABILITY)


@dataclass(frozen=True)
class Chart:
    assessment_id: int
    name: str
    format: str
    title: str


@dataclass(frozen=True)
class Evidence:
    """The assessment one side's numbers of one kind come from."""

    assessment: Assessment
    dataset: str  # "name:version"
    on_declared: bool  # on one of the candidate's declared evaluation datasets

    @property
    def id(self) -> int:
        return self.assessment.pk

    @property
    def results(self) -> dict[str, Any]:
        return self.assessment.results or {}


@dataclass(frozen=True)
class Side:
    version: ModelVersion
    label: str  # "candidate" / "production"
    performance: Evidence | None
    fairness: Evidence | None
    explainability: Evidence | None
    charts: dict[str, Chart]  # by name, across this side's evidence
    artifact_facts: tuple[tuple[str, str], ...]  # what inspecting the artifact found

    @property
    def importance_chart(self) -> Chart | None:
        return self.charts.get("shap-importance")

    @property
    def sensitive_share(self) -> float | None:
        if self.explainability is None:
            return None
        share = self.explainability.results.get("sensitive_share", {}).get("share")
        return share if finite(share) else None

    @property
    def sensitive_share_features(self) -> list[str]:
        if self.explainability is None:
            return []
        return list(self.explainability.results.get("sensitive_share", {}).get("features", []))

    @property
    def sensitive_share_percent(self) -> float | None:
        share = self.sensitive_share
        return None if share is None else share * 100


@dataclass(frozen=True)
class MetricRow:
    metric: str
    direction: str  # "higher" or "lower" is better
    candidate: float | None
    production: float | None
    difference: float | None  # candidate - production, on the same dataset version only
    verdict: str | None  # "better", "worse", "same"; None when not comparable
    note: str = ""  # why no difference is given


@dataclass(frozen=True)
class Disparity:
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class DisparityRow:
    metric: str
    candidate: Disparity | None
    production: Disparity | None
    difference: float | None  # candidate - production (a smaller disparity is better)
    verdict: str | None


@dataclass(frozen=True)
class FeatureFairness:
    feature: str
    rows: tuple[DisparityRow, ...]
    # (chart or None, side) for each side: the metric-by-group chart of this feature.
    charts: tuple[tuple[Chart | None, Side], ...]


@dataclass(frozen=True)
class ImportanceRow:
    feature: str
    candidate: float | None
    production: float | None
    candidate_rank: int | None
    production_rank: int | None
    sensitive: bool


@dataclass(frozen=True)
class Comparison:
    candidate: Side
    production: Side | None
    production_note: str  # where the production side comes from, or why there is none
    metrics: tuple[MetricRow, ...]
    metrics_comparable: bool  # both performance runs on the same dataset version
    fairness: tuple[FeatureFairness, ...]
    importance: tuple[ImportanceRow, ...]
    sensitive_features: tuple[str, ...]
    # Candidate minus production share of attribution on sensitive features, in points.
    share_difference: float | None
    share_verdict: str | None  # less attribution on sensitive features is better
    sides: tuple[Side, ...] = field(default=())

    @property
    def has_explainability(self) -> bool:
        return any(side.explainability is not None for side in self.sides)


def build(
    candidate: ModelVersion,
    production: ModelVersion | None,
    *,
    evaluation_datasets: Iterable[DatasetVersion] = (),
    production_note: str = "",
    assessments: dict[tuple[int, str], list[Assessment]] | None = None,
) -> Comparison:
    """The comparison of `candidate` with `production` (None: nothing in production).
    `assessments`: what `assessments_of` returns for both, when the caller has it."""
    declared = list(evaluation_datasets)
    versions = [candidate] + ([production] if production is not None else [])
    rows = assessments if assessments is not None else assessments_of(versions)
    chosen = {
        v.pk: {kind: _pick(rows.get((v.pk, kind), []), declared) for kind in KINDS}
        for v in versions
    }
    charts = _charts([e.id for picks in chosen.values() for e in picks.values() if e is not None])
    sides = [_side(v, label, chosen[v.pk], charts) for v, label in _labelled(candidate, production)]
    cand, prod = sides[0], (sides[1] if len(sides) > 1 else None)
    sensitive = tuple(_sensitive_features(declared, cand, prod))
    metrics, comparable = _metrics(cand, prod)
    share_difference = (
        _difference(cand.sensitive_share_percent, prod.sensitive_share_percent)
        if prod is not None and _same_data(cand.explainability, prod.explainability)
        else None
    )
    return Comparison(
        candidate=cand,
        production=prod,
        production_note=production_note,
        metrics=metrics,
        metrics_comparable=comparable,
        fairness=_fairness(cand, prod, sensitive),
        importance=_importance(cand, prod, sensitive),
        sensitive_features=sensitive,
        share_difference=share_difference,
        share_verdict=_verdict(share_difference, False),
        sides=tuple(sides),
    )


def _labelled(
    candidate: ModelVersion, production: ModelVersion | None
) -> list[tuple[ModelVersion, str]]:
    return [(candidate, "candidate")] + ([(production, "production")] if production else [])


def assessments_of(versions: list[ModelVersion]) -> dict[tuple[int, str], list[Assessment]]:
    """Succeeded assessments about each version's exact artifact, newest first: one query."""
    about_these_bytes = Q(pk__in=[])
    for version in versions:
        about_these_bytes |= Q(model_version=version, artifact_sha256=version.artifact_sha256)
    found: dict[tuple[int, str], list[Assessment]] = {}
    rows = (
        Assessment.objects.filter(about_these_bytes, status=AssessmentStatus.SUCCEEDED)
        .filter(kind__in=KINDS)
        .select_related("dataset_version__dataset")
        .defer("provenance", "timings", "parameters")
        .order_by("-finished_at", "-id")
    )
    for row in rows:
        found.setdefault((row.model_version_id, row.kind), []).append(row)
    return found


def _pick(rows: list[Assessment], declared: list[DatasetVersion]) -> Evidence | None:
    """The newest run on a declared evaluation dataset version, else on another version of a
    declared dataset, else the newest run at all (shown, but marked as not on declared data)."""
    if not rows:
        return None
    versions = {d.pk for d in declared}
    names = {d.dataset_id for d in declared}
    for matches in (
        lambda a: a.dataset_version_id in versions,
        lambda a: a.dataset_version.dataset_id in names,
    ):
        for row in rows:
            if matches(row):
                return Evidence(row, str(row.dataset_version), True)
    return Evidence(rows[0], str(rows[0].dataset_version), not declared)


def _charts(assessment_ids: list[int]) -> dict[int, dict[str, Chart]]:
    """The charts of the chosen assessments, PNG preferred: one query."""
    found: dict[int, dict[str, Chart]] = {}
    if not assessment_ids:
        return found
    rows = AssessmentChart.objects.filter(assessment_id__in=assessment_ids).values_list(
        "assessment_id", "name", "format", "title"
    )
    for assessment_id, name, fmt, title in rows:
        current = found.setdefault(assessment_id, {}).get(name)
        if current is None or fmt == "png":
            found[assessment_id][name] = Chart(assessment_id, name, fmt, title)
    return found


def _side(
    version: ModelVersion,
    label: str,
    picks: dict[str, Evidence | None],
    charts: dict[int, dict[str, Chart]],
) -> Side:
    named: dict[str, Chart] = {}
    for evidence in picks.values():
        if evidence is not None:
            named.update(charts.get(evidence.id, {}))
    return Side(
        version=version,
        label=label,
        performance=picks[AssessmentKind.PERFORMANCE],
        fairness=picks[AssessmentKind.FAIRNESS],
        explainability=picks[AssessmentKind.EXPLAINABILITY],
        charts=named,
        artifact_facts=_artifact_facts(version.artifact_details or {}),
    )


def _artifact_facts(details: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    facts = []
    for key, value in details.items():
        if isinstance(value, list):
            if key == "steps":
                text = ", ".join(
                    str(s.get("class", s)) if isinstance(s, dict) else str(s) for s in value
                )
            else:
                text = ", ".join(map(str, value)) if value else "none"
        elif isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        else:
            text = str(value)
        facts.append((key.replace("_", " "), text))
    return tuple(facts)


def _difference(candidate: float | None, production: float | None) -> float | None:
    if candidate is None or production is None:
        return None
    return candidate - production


def _same_data(a: Evidence | None, b: Evidence | None) -> bool:
    return a is not None and b is not None and a.dataset == b.dataset


def _verdict(difference: float | None, higher_is_better: bool) -> str | None:
    if difference is None:
        return None
    if abs(difference) <= EPSILON:
        return "same"
    return "better" if (difference > 0) == higher_is_better else "worse"


def _number(value: Any) -> float | None:
    return float(value) if finite(value) else None


def _metrics(cand: Side, prod: Side | None) -> tuple[tuple[MetricRow, ...], bool]:
    mine = cand.performance.results.get("metrics", {}) if cand.performance else {}
    theirs = prod.performance.results.get("metrics", {}) if prod and prod.performance else {}
    comparable = prod is not None and _same_data(cand.performance, prod.performance)
    rows = []
    for metric in METRIC_ORDER:
        if metric not in mine and metric not in theirs:
            continue
        higher = metric in HIGHER_IS_BETTER
        a, b = _number(mine.get(metric)), _number(theirs.get(metric))
        difference = _difference(a, b) if comparable else None
        note = ""
        if a is not None and b is not None and not comparable:
            note = "measured on different datasets: not compared"
        rows.append(
            MetricRow(
                metric=metric,
                direction="higher" if higher else "lower",
                candidate=a,
                production=b,
                difference=difference,
                verdict=_verdict(difference, higher),
                note=note,
            )
        )
    return tuple(rows), comparable


def _sensitive_features(declared: list[DatasetVersion], cand: Side, prod: Side | None) -> list[str]:
    """The declared sensitive features of the evaluation data, then any other feature either
    fairness run reports (an intersection, say)."""
    names: list[str] = []
    for dataset in declared:
        names.extend(dataset.sensitive_features or [])
    for side in (cand, prod):
        if side is not None and side.fairness is not None:
            names.extend(side.fairness.results.get("disparities", {}))
    return list(dict.fromkeys(names))


def _disparity(side: Side | None, feature: str, metric: str) -> Disparity | None:
    if side is None or side.fairness is None:
        return None
    found = side.fairness.results.get("disparities", {}).get(feature)
    if not found or metric not in found:
        return None
    interval = found.get("ci", {}).get(metric) or [None, None]
    low, high = [*interval, None, None][:2]
    return Disparity(_number(found.get(metric)), _number(low), _number(high))


def _fairness(
    cand: Side, prod: Side | None, features: tuple[str, ...]
) -> tuple[FeatureFairness, ...]:
    comparable = prod is not None and _same_data(cand.fairness, prod.fairness)
    result = []
    for feature in features:
        rows = []
        for metric in DIFFERENCES:
            a, b = _disparity(cand, feature, metric), _disparity(prod, feature, metric)
            if a is None and b is None:
                continue
            difference = (
                _difference(a.value if a else None, b.value if b else None) if comparable else None
            )
            # A disparity is a gap between groups: smaller is better.
            rows.append(DisparityRow(metric, a, b, difference, _verdict(difference, False)))
        if not rows:
            continue
        chart = f"fairness-{_slug(feature)}"
        result.append(
            FeatureFairness(
                feature=feature,
                rows=tuple(rows),
                charts=tuple((side.charts.get(chart), side) for side in (cand, prod) if side),
            )
        )
    return tuple(result)


def _slug(feature: str) -> str:
    """The chart name part of a feature: the jobs name the intersection of sex and race sex-x-race."""
    return feature.replace("\N{MULTIPLICATION SIGN}", "-x-").replace(" ", "-")


def _importance(
    cand: Side, prod: Side | None, sensitive: tuple[str, ...]
) -> tuple[ImportanceRow, ...]:
    def ranked(side: Side | None) -> tuple[dict[str, float], dict[str, int]]:
        if side is None or side.explainability is None:
            return {}, {}
        values = {
            name: float(value)
            for name, value in side.explainability.results.get("global_importance", {}).items()
            if finite(value)
        }
        order = sorted(values, key=lambda name: (-values[name], name))
        return values, {name: index + 1 for index, name in enumerate(order)}

    mine, my_ranks = ranked(cand)
    theirs, their_ranks = ranked(prod)
    # The candidate's top features, then production's top features the candidate ranks lower,
    # so a feature that lost or gained weight shows in both columns.
    shown = [n for n in my_ranks if my_ranks[n] <= TOP_FEATURES]
    shown += [n for n in their_ranks if their_ranks[n] <= TOP_FEATURES and n not in shown]
    shown.sort(key=lambda n: (my_ranks.get(n, 10**6), their_ranks.get(n, 10**6), n))
    return tuple(
        ImportanceRow(
            feature=name,
            candidate=mine.get(name),
            production=theirs.get(name),
            candidate_rank=my_ranks.get(name),
            production_rank=their_ranks.get(name),
            sensitive=name in sensitive,
        )
        for name in shown
    )

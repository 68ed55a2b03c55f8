"""Each check type's `evaluate` on an EvidenceContext built directly: no database.

Results dictionaries have the shape the assessment jobs write (tests/governance/gate_setup.py
builds them); the numbers are chosen here so that each verdict is decided by one of them.
"""

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.policies.checks import REGISTRY, Check, Verdict
from governance.policies.context import (
    ApprovalFacts,
    AssessmentFacts,
    EvidenceContext,
    RequestFacts,
    VersionFacts,
)
from tests.governance.gate_setup import (
    explainability_results,
    fairness_results,
    performance_results,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SHA = "a" * 64
OTHER_SHA = "b" * 64
PRODUCTION_SHA = "c" * 64
EVAL = ("adult-eval:1", "d" * 64)
TRAIN = ("adult-train:1", "e" * 64)
CARD = {
    "title": "Income classifier",
    "description": "Predicts whether income exceeds 50K.",
    "intended_use": "Pre-screening, reviewed by a person.",
    "limitations": "1994 census data.",
    "tags": ["credit"],
    "version_description": "",
}
INTERSECTION = "sex\N{MULTIPLICATION SIGN}race"


def facts(
    kind: str,
    results: dict[str, Any] | None = None,
    *,
    id: int = 1,
    sha: str = SHA,
    dataset_version: str = "adult-eval:1",
    age_days: float = 1,
    sensitive: tuple[str, ...] = ("sex", "race"),
    declared_features: tuple[str, ...] = (),
) -> AssessmentFacts:
    defaults = {
        "performance": performance_results,
        "fairness": fairness_results,
        "explainability": explainability_results,
    }
    return AssessmentFacts(
        id=id,
        kind=kind,
        artifact_sha256=sha,
        dataset=dataset_version.rsplit(":", 1)[0],
        dataset_version=dataset_version,
        dataset_sha256="d" * 64,
        sensitive_features=sensitive if kind != "performance" else (),
        finished_at=NOW - timedelta(days=age_days),
        results=results if results is not None else defaults[kind](),
        declared_features=declared_features,
    )


def version(*assessments: AssessmentFacts, **fields: Any) -> VersionFacts:
    values: dict[str, Any] = {
        "id": 2,
        "ref": "income:2",
        "artifact_sha256": SHA,
        "artifact_format": "skops",
        "is_unsafe": False,
        "stage": "staging",
        "code_repository": "https://git.example.org/credit/income",
        "code_commit": "f" * 40,
        "parent": None,
        "training_datasets": (TRAIN,),
        "evaluation_datasets": (EVAL,),
        "model_card": dict(CARD),
        "registered_by": "dana",
        "assessments": assessments,
    }
    values.update(fields)
    return VersionFacts(**values)


def production(*assessments: AssessmentFacts) -> VersionFacts:
    return version(
        *assessments, id=1, ref="income:1", artifact_sha256=PRODUCTION_SHA, stage="production"
    )


def context(
    subject: VersionFacts,
    *,
    prod: VersionFacts | None = None,
    request: RequestFacts | None = None,
    now: datetime = NOW,
) -> EvidenceContext:
    return EvidenceContext(
        version=subject,
        target_stage="production",
        risk_tier="high",
        now=now,
        production=prod,
        request=request,
    )


def check(check_type: str, **params: Any) -> Check:
    """A check with its parameters validated exactly as a policy document's would be."""
    cls = REGISTRY[check_type]
    return cls(cls.clean({"id": "c", "type": check_type, **params}, "checks[0] (c)"))


def verdict(check_type: str, ctx: EvidenceContext, **params: Any) -> Verdict:
    result = check(check_type, **params).evaluate(ctx)
    assert isinstance(result, Verdict)
    assert result.reason
    return result


def perf(id: int = 1, **metrics: Any) -> AssessmentFacts:
    return facts("performance", performance_results(**metrics), id=id)


def prod_perf(id: int = 1, **metrics: Any) -> AssessmentFacts:
    """A performance assessment of the production version's own artifact."""
    return facts("performance", performance_results(**metrics), id=id, sha=PRODUCTION_SHA)


# --- metric_threshold ------------------------------------------------------------------------


def test_a_metric_above_its_minimum_passes_citing_the_assessment() -> None:
    result = verdict(
        "metric_threshold", context(version(perf(7, roc_auc=0.9))), metric="roc_auc", min=0.8
    )

    assert result.passed
    assert result.reason.startswith("roc_auc 0.9 in assessment #7 on adult-eval:1")
    assert result.observed == {"roc_auc": 0.9}
    assert result.threshold == {"min": 0.8}
    assert result.evidence == {"assessments": [7], "datasets": ["adult-eval:1"]}


def test_a_metric_below_its_minimum_fails_with_both_numbers() -> None:
    result = verdict(
        "metric_threshold", context(version(perf(roc_auc=0.75))), metric="roc_auc", min=0.8
    )

    assert not result.passed
    assert result.reason == "roc_auc 0.75 is below the minimum 0.8"
    assert result.evidence["assessments"] == [1]


def test_a_metric_exactly_at_its_bounds_passes() -> None:
    ctx = context(version(perf(roc_auc=0.8)))

    assert verdict("metric_threshold", ctx, metric="roc_auc", min=0.8, max=0.8).passed


def test_a_lower_is_better_metric_above_its_maximum_fails() -> None:
    ctx = context(version(perf(log_loss=0.5)))

    result = verdict("metric_threshold", ctx, metric="log_loss", max=0.4)

    assert not result.passed
    assert result.reason == "log_loss 0.5 is above the maximum 0.4"
    assert verdict("metric_threshold", ctx, metric="log_loss", max=0.5).passed


def test_a_broken_bound_and_a_regression_are_both_reported() -> None:
    ctx = context(version(perf(2, roc_auc=0.75)), prod=production(prod_perf(1, roc_auc=0.9)))

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.8, max_regression=0.01)

    assert not result.passed
    assert result.reason == (
        "roc_auc 0.75 is below the minimum 0.8; roc_auc 0.75 is 0.15 worse than production "
        "income:1 (0.9); at most 0.01 is allowed"
    )


def test_the_newest_performance_assessment_decides() -> None:
    newest, older = perf(9, roc_auc=0.7), perf(3, roc_auc=0.95)

    result = verdict("metric_threshold", context(version(newest, older)), metric="roc_auc", min=0.8)

    assert not result.passed
    assert result.evidence["assessments"] == [9]


def test_a_metric_the_assessment_could_not_compute_fails_with_its_reason() -> None:
    results = performance_results(roc_auc=None)
    results["null_reasons"] = {"roc_auc": "only one class in y_true"}
    ctx = context(version(facts("performance", results, id=4)))

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.8)

    assert not result.passed
    assert result.reason == "roc_auc is not available in assessment #4: only one class in y_true"


@pytest.mark.parametrize("value", [math.nan, math.inf, "NaN", "0.9", True, [0.9]])
def test_a_metric_that_is_not_a_finite_number_fails(value: Any) -> None:
    ctx = context(version(perf(4, roc_auc=value)))

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.0, max=1.0)

    assert not result.passed
    assert "not a finite number" in result.reason


def test_no_performance_assessment_fails() -> None:
    result = verdict("metric_threshold", context(version()), metric="roc_auc", min=0.8)

    assert not result.passed
    assert (
        result.reason
        == "no succeeded performance assessment of this artifact on dataset 'adult-eval'"
    )


def test_a_performance_assessment_of_another_artifact_never_counts() -> None:
    elsewhere = facts("performance", performance_results(roc_auc=0.99), sha=OTHER_SHA)

    result = verdict("metric_threshold", context(version(elsewhere)), metric="roc_auc", min=0.8)

    assert not result.passed
    assert "no succeeded performance assessment of this artifact" in result.reason


def test_the_declared_evaluation_dataset_is_read_unless_the_check_names_one() -> None:
    on_eval = perf(1, roc_auc=0.9)
    on_holdout = facts(
        "performance", performance_results(roc_auc=0.7), id=2, dataset_version="holdout:3"
    )
    subject = version(on_holdout, on_eval)  # holdout newer

    default = verdict("metric_threshold", context(subject), metric="roc_auc", min=0.8)
    named = verdict(
        "metric_threshold", context(subject), metric="roc_auc", min=0.8, dataset="holdout"
    )

    assert default.passed and default.evidence["assessments"] == [1]
    assert not named.passed and named.evidence["assessments"] == [2]


def test_with_two_declared_evaluation_datasets_the_newest_on_any_is_read() -> None:
    subject = version(
        facts("performance", performance_results(roc_auc=0.7), id=2, dataset_version="holdout:3"),
        perf(1, roc_auc=0.9),
        evaluation_datasets=(EVAL, ("holdout:3", "9" * 64)),
    )

    result = verdict("metric_threshold", context(subject), metric="roc_auc", min=0.8)

    assert not result.passed
    assert result.evidence["assessments"] == [2]


def test_a_regression_within_the_allowance_passes_naming_production() -> None:
    ctx = context(version(perf(2, roc_auc=0.895)), prod=production(prod_perf(1, roc_auc=0.9)))

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.8, max_regression=0.01)

    assert result.passed
    assert result.reason.endswith("; production income:1 has 0.9")
    assert result.observed["production"] == 0.9
    assert result.observed["regression"] == pytest.approx(0.005)
    assert result.evidence["assessments"] == [2, 1]


def test_a_regression_exactly_at_the_allowance_passes_despite_float_rounding() -> None:
    # 0.9 - 0.89 == 0.010000000000000009
    ctx = context(version(perf(2, roc_auc=0.89)), prod=production(prod_perf(1, roc_auc=0.9)))

    assert verdict("metric_threshold", ctx, metric="roc_auc", max_regression=0.01).passed


def test_a_regression_beyond_the_allowance_fails_with_the_numbers() -> None:
    ctx = context(version(perf(2, roc_auc=0.885)), prod=production(prod_perf(1, roc_auc=0.9)))

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.8, max_regression=0.01)

    assert not result.passed
    assert result.reason == (
        "roc_auc 0.885 is 0.015 worse than production income:1 (0.9); at most 0.01 is allowed"
    )


def test_for_a_lower_is_better_metric_a_rise_is_the_regression() -> None:
    prod = production(prod_perf(1, log_loss=0.32))
    worse = context(version(perf(2, log_loss=0.35)), prod=prod)
    better = context(version(perf(2, log_loss=0.20)), prod=prod)

    failed = verdict("metric_threshold", worse, metric="log_loss", max_regression=0.01)
    passed = verdict("metric_threshold", better, metric="log_loss", max_regression=0.01)

    assert not failed.passed
    assert failed.reason == (
        "log_loss 0.35 is 0.03 worse than production income:1 (0.32); at most 0.01 is allowed"
    )
    assert passed.passed
    assert passed.observed["regression"] == pytest.approx(-0.12)


def test_the_baseline_is_production_on_the_same_dataset_version() -> None:
    prod = production(
        facts(
            "performance",
            performance_results(roc_auc=0.80),
            id=11,
            sha=PRODUCTION_SHA,
            dataset_version="adult-eval:2",
        ),
        facts("performance", performance_results(roc_auc=0.95), id=10, sha=PRODUCTION_SHA),
    )
    ctx = context(version(perf(2, roc_auc=0.9)), prod=prod)

    result = verdict("metric_threshold", ctx, metric="roc_auc", max_regression=0.01)

    assert not result.passed
    assert result.observed["production"] == 0.95
    assert result.evidence == {"assessments": [2, 10], "datasets": ["adult-eval:1"]}


def test_production_without_a_baseline_on_the_same_dataset_version_fails() -> None:
    prod = production(
        facts(
            "performance",
            performance_results(roc_auc=0.5),
            sha=PRODUCTION_SHA,
            dataset_version="adult-eval:2",
        )
    )
    ctx = context(version(perf(2, roc_auc=0.9)), prod=prod)

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.8, max_regression=0.01)

    assert not result.passed
    assert result.reason == (
        "production version income:1 has no performance assessment with roc_auc on adult-eval:1 "
        "(the candidate's dataset), so the regression cannot be measured"
    )


def test_production_evidence_on_another_artifact_is_no_baseline() -> None:
    prod = production(facts("performance", performance_results(roc_auc=0.5), sha=OTHER_SHA))
    ctx = context(version(perf(2, roc_auc=0.9)), prod=prod)

    result = verdict("metric_threshold", ctx, metric="roc_auc", max_regression=0.01)

    assert not result.passed
    assert "has no performance assessment with roc_auc" in result.reason


def test_a_baseline_without_a_finite_value_is_no_baseline() -> None:
    prod = production(
        facts("performance", performance_results(roc_auc=math.nan), sha=PRODUCTION_SHA)
    )
    ctx = context(version(perf(2, roc_auc=0.2)), prod=prod)

    assert not verdict("metric_threshold", ctx, metric="roc_auc", max_regression=0.01).passed


def test_without_production_only_the_absolute_bounds_apply() -> None:
    ctx = context(version(perf(2, roc_auc=0.85)))

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.8, max_regression=0.01)
    below = verdict(
        "metric_threshold",
        context(version(perf(2, roc_auc=0.7))),
        metric="roc_auc",
        min=0.8,
        max_regression=0.01,
    )

    assert result.passed
    assert result.reason.endswith(
        "; no production version to compare with: only absolute bounds apply"
    )
    assert "production" not in result.observed
    assert not below.passed


# --- fairness_threshold ----------------------------------------------------------------------


def fair(
    disparities: dict[str, dict[str, float]] | None = None,
    *,
    id: int = 3,
    counts: dict[str, dict[str, int]] | None = None,
    ci_width: float = 0.02,
    **kwargs: Any,
) -> AssessmentFacts:
    return facts(
        "fairness", fairness_results(disparities, counts=counts, ci_width=ci_width), id=id, **kwargs
    )


def test_a_disparity_within_its_maximum_passes_with_the_number() -> None:
    ctx = context(version(fair({"sex": {"demographic_parity_difference": 0.05}})))

    result = verdict(
        "fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1, features=["sex"]
    )

    assert result.passed
    assert (
        result.reason
        == "demographic_parity_difference for sex is 0.05 (assessment #3 on adult-eval:1)"
    )
    assert result.observed["sex"]["value"] == 0.05
    assert result.observed["sex"]["ci"] == [pytest.approx(0.03), pytest.approx(0.07)]
    assert result.evidence == {"assessments": [3], "datasets": ["adult-eval:1"]}


def test_a_disparity_above_its_maximum_fails_with_the_numbers() -> None:
    ctx = context(version(fair({"sex": {"equalized_odds_difference": 0.15}})))

    result = verdict(
        "fairness_threshold", ctx, metric="equalized_odds_difference", max=0.1, features=["sex"]
    )

    assert not result.passed
    assert result.reason == (
        "equalized_odds_difference for sex is 0.15, above the maximum 0.1 "
        "(assessment #3 on adult-eval:1)"
    )


def intersectional(value: float) -> AssessmentFacts:
    return fair(
        {
            "sex": {"equalized_odds_difference": 0.02},
            "race": {"equalized_odds_difference": 0.03},
            INTERSECTION: {"equalized_odds_difference": value},
        },
        counts={
            "sex": {"Female": 5000, "Male": 10000},
            "race": {"White": 12000, "Black": 3000},
            INTERSECTION: {
                "Female\N{MULTIPLICATION SIGN}Black": 900,
                "Male\N{MULTIPLICATION SIGN}White": 8000,
            },
        },
    )


@pytest.mark.parametrize("features", [["sex", "race"], ["race", "sex"]])
def test_the_intersection_of_features_is_judged_on_its_own_key(features: list[str]) -> None:
    ctx = context(version(intersectional(0.14)))

    result = verdict(
        "fairness_threshold", ctx, metric="equalized_odds_difference", max=0.1, features=features
    )

    assert not result.passed
    assert list(result.observed) == [INTERSECTION]
    assert result.reason.startswith(f"equalized_odds_difference for {INTERSECTION} is 0.14, above")


def test_the_intersection_passes_when_its_own_disparity_is_small() -> None:
    ctx = context(version(intersectional(0.08)))

    assert verdict(
        "fairness_threshold",
        ctx,
        metric="equalized_odds_difference",
        max=0.1,
        features=["sex", "race"],
    ).passed


def test_an_intersection_no_assessment_covers_fails() -> None:
    ctx = context(version(intersectional(0.01)))

    result = verdict(
        "fairness_threshold",
        ctx,
        metric="equalized_odds_difference",
        max=0.1,
        features=["sex", "age"],
    )

    assert not result.passed
    assert result.reason == (
        "no succeeded fairness assessment of this artifact on dataset 'adult-eval' for "
        "sex \N{MULTIPLICATION SIGN} age (1 fairness assessment(s) exist but none covers "
        "sex \N{MULTIPLICATION SIGN} age)"
    )


def test_an_older_assessment_that_covers_the_feature_is_used_when_the_newest_does_not() -> None:
    newest = fair({"sex": {"demographic_parity_difference": 0.01}}, id=9)
    older = fair({"race": {"demographic_parity_difference": 0.2}}, id=4)

    result = verdict(
        "fairness_threshold",
        context(version(newest, older)),
        metric="demographic_parity_difference",
        max=0.1,
        features=["race"],
    )

    assert not result.passed
    assert result.evidence["assessments"] == [4]


def test_the_upper_confidence_bound_can_fail_where_the_point_passes() -> None:
    ctx = context(version(fair({"sex": {"demographic_parity_difference": 0.08}}, ci_width=0.04)))
    params = {"metric": "demographic_parity_difference", "max": 0.1, "features": ["sex"]}

    point = verdict("fairness_threshold", ctx, **params)
    bound = verdict("fairness_threshold", ctx, **params, use_confidence_bound=True)

    assert point.passed
    assert not bound.passed
    assert bound.reason == (
        "upper confidence bound of demographic_parity_difference for sex is 0.12, above the "
        "maximum 0.1 (assessment #3 on adult-eval:1)"
    )
    assert bound.observed["sex"]["judged"] == pytest.approx(0.12)


def test_judging_the_confidence_bound_without_an_interval_fails() -> None:
    assessment = fair({"sex": {"demographic_parity_difference": 0.01}})
    assessment.results["disparities"]["sex"]["ci"] = {}

    result = verdict(
        "fairness_threshold",
        context(version(assessment)),
        metric="demographic_parity_difference",
        max=0.1,
        features=["sex"],
        use_confidence_bound=True,
    )

    assert not result.passed
    assert (
        result.reason
        == "no confidence interval for demographic_parity_difference on sex (assessment #3 on adult-eval:1)"
    )


def test_a_ratio_is_judged_against_its_minimum() -> None:
    good = context(version(fair({"sex": {"demographic_parity_ratio": 0.85}})))
    bad = context(version(fair({"sex": {"demographic_parity_ratio": 0.7}})))
    params = {"metric": "demographic_parity_ratio", "min": 0.8, "features": ["sex"]}

    assert verdict("fairness_threshold", good, **params).passed
    result = verdict("fairness_threshold", bad, **params)
    assert not result.passed
    assert result.reason == (
        "demographic_parity_ratio for sex is 0.7, below the minimum 0.8 (assessment #3 on adult-eval:1)"
    )


def test_for_a_ratio_the_lower_confidence_bound_is_judged() -> None:
    ctx = context(version(fair({"sex": {"equal_opportunity_ratio": 0.85}}, ci_width=0.1)))

    result = verdict(
        "fairness_threshold",
        ctx,
        metric="equal_opportunity_ratio",
        min=0.8,
        features=["sex"],
        use_confidence_bound=True,
    )

    assert not result.passed
    assert result.reason.startswith(
        "lower confidence bound of equal_opportunity_ratio for sex is 0.75, below the minimum 0.8"
    )


def test_a_compared_group_below_the_minimum_size_fails_naming_it() -> None:
    ctx = context(version(fair()))  # race compares Other with 135 rows
    params = {"metric": "demographic_parity_difference", "max": 0.1, "features": ["race"]}

    small = verdict("fairness_threshold", ctx, **params, min_group_size=200)
    enough = verdict("fairness_threshold", ctx, **params, min_group_size=100)

    assert not small.passed
    assert small.reason == (
        "assessment #3 compares groups smaller than 200 rows for race (Other: 135); re-run it "
        "with min_group_size >= 200"
    )
    assert enough.passed


def test_a_group_the_assessment_left_out_does_not_count_against_the_minimum_size() -> None:
    assessment = fair()
    assessment.results["disparities"]["race"]["groups_compared"] = ["Black", "White"]

    result = verdict(
        "fairness_threshold",
        context(version(assessment)),
        metric="demographic_parity_difference",
        max=0.1,
        features=["race"],
        min_group_size=200,
    )

    assert result.passed


def test_by_default_every_declared_feature_is_judged_separately() -> None:
    ctx = context(
        version(
            fair(
                {
                    "sex": {"demographic_parity_difference": 0.05},
                    "race": {"demographic_parity_difference": 0.15},
                }
            )
        )
    )

    result = verdict("fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1)

    assert not result.passed
    assert set(result.observed) == {"sex", "race"}
    assert result.reason == (
        "demographic_parity_difference for race is 0.15, above the maximum 0.1 "
        "(assessment #3 on adult-eval:1)"
    )


def test_by_default_the_verdict_passes_only_when_every_feature_passes() -> None:
    ctx = context(version(fair()))

    result = verdict("fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1)

    assert result.passed
    assert "for sex is 0.05" in result.reason and "for race is 0.06" in result.reason


def test_a_declared_feature_without_disparities_fails_rather_than_being_skipped() -> None:
    ctx = context(version(fair({"sex": {"demographic_parity_difference": 0.05}})))

    result = verdict("fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1)

    assert not result.passed
    assert result.reason == (
        "no fairness assessment of this artifact on dataset 'adult-eval' covers every declared "
        "sensitive feature (sex, race); the newest, #3, covers sex"
    )


def test_an_assessment_without_declared_features_fails() -> None:
    ctx = context(version(fair(sensitive=())))

    result = verdict("fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1)

    assert not result.passed
    assert result.reason == (
        "assessment #3 covers no sensitive feature and its dataset declares none"
    )


def test_every_feature_the_dataset_declares_is_judged_not_only_those_assessed() -> None:
    """A requester who assesses only race cannot keep sex out of the default check."""
    only_race = facts(
        "fairness",
        fairness_results({"race": {"demographic_parity_difference": 0.05}}),
        id=4,
        sensitive=("race",),
        declared_features=("sex", "race"),
    )
    ctx = context(version(only_race))

    result = verdict("fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1)

    assert not result.passed
    assert "covers every declared sensitive feature (sex, race)" in result.reason


def test_evidence_on_an_undeclared_dataset_never_counts() -> None:
    elsewhere = facts(
        "performance", performance_results(roc_auc=0.95), id=5, dataset_version="other:1"
    )
    ctx = context(version(elsewhere))

    result = verdict("metric_threshold", ctx, metric="roc_auc", min=0.8)

    assert not result.passed
    assert result.reason == (
        "no succeeded performance assessment of this artifact on dataset 'adult-eval'"
    )


@pytest.mark.parametrize("value", [None, math.nan, "NaN"])
def test_an_undefined_disparity_fails(value: Any) -> None:
    ctx = context(version(fair({"sex": {"demographic_parity_difference": 0.0}})))
    ctx.version.assessments[0].results["disparities"]["sex"]["demographic_parity_difference"] = (
        value
    )

    result = verdict(
        "fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1, features=["sex"]
    )

    assert not result.passed
    assert "demographic_parity_difference for sex is" in result.reason


def test_a_missing_fairness_assessment_fails() -> None:
    ctx = context(version(perf()))

    for params in ({}, {"features": ["sex"]}):
        result = verdict(
            "fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1, **params
        )
        assert not result.passed
        assert result.reason.startswith(
            "no succeeded fairness assessment of this artifact on dataset 'adult-eval'"
        )


def test_a_fairness_assessment_of_another_artifact_never_counts() -> None:
    ctx = context(version(fair(sha=OTHER_SHA)))

    result = verdict("fairness_threshold", ctx, metric="demographic_parity_difference", max=0.1)

    assert not result.passed
    assert result.evidence == {}


# --- explainability --------------------------------------------------------------------------


def explained(share: float = 0.05, *, id: int = 5, **kwargs: Any) -> AssessmentFacts:
    return facts("explainability", explainability_results(share), id=id, **kwargs)


def test_an_explanation_present_passes() -> None:
    result = verdict("explainability", context(version(explained())))

    assert result.passed
    assert result.reason == "assessment #5 explains 1000 rows of adult-eval:1"
    assert result.observed == {"method": "linear closed form"}


def test_a_missing_explanation_fails() -> None:
    result = verdict("explainability", context(version(perf(), fair())))

    assert not result.passed
    assert (
        result.reason
        == "no succeeded explainability assessment of this artifact on dataset 'adult-eval'"
    )


def test_an_explanation_of_another_artifact_never_counts() -> None:
    assert not verdict("explainability", context(version(explained(sha=OTHER_SHA)))).passed


def test_shap_values_that_do_not_add_up_fail_unless_additivity_is_waived() -> None:
    assessment = explained()
    assessment.results["additivity"] = {
        "max_abs_error": 0.01,
        "tolerance": 1e-6,
        "within_tolerance": False,
    }
    ctx = context(version(assessment))

    result = verdict("explainability", ctx)

    assert not result.passed
    assert result.reason == (
        "assessment #5: SHAP values do not add up to the model output (max error 0.01, tolerance 1e-06)"
    )
    assert verdict("explainability", ctx, require_additivity=False).passed


def test_the_sensitive_share_within_its_limit_passes_and_above_it_fails() -> None:
    within = verdict("explainability", context(version(explained(0.05))), max_sensitive_share=0.1)
    above = verdict("explainability", context(version(explained(0.2))), max_sensitive_share=0.1)

    assert within.passed
    assert within.reason == "5% of attribution on sex, race (assessment #5), limit 10%"
    assert not above.passed
    assert above.reason == "20% of attribution on sex, race (assessment #5), limit 10%"
    assert above.observed["share"] == pytest.approx(0.2)
    assert above.observed["by_feature"] == {"sex": pytest.approx(0.12), "race": pytest.approx(0.08)}


def test_the_share_can_be_limited_to_named_features() -> None:
    ctx = context(version(explained(0.15)))  # sex 0.09, race 0.06

    result = verdict("explainability", ctx, max_sensitive_share=0.1, features=["sex"])

    assert result.passed
    assert result.reason == "9% of attribution on sex (assessment #5), limit 10%"


def test_a_named_feature_without_a_share_fails_unless_absent_from_the_model() -> None:
    assessment = explained()
    ctx = context(version(assessment))

    missing = verdict("explainability", ctx, max_sensitive_share=0.1, features=["sex", "age"])
    assessment.results["sensitive_share"]["absent"] = ["age"]
    absent = verdict("explainability", ctx, max_sensitive_share=0.1, features=["sex", "age"])

    assert not missing.passed
    assert missing.reason == "assessment #5 has no attribution share for age"
    assert absent.passed
    assert absent.observed["by_feature"] == {"sex": pytest.approx(0.03), "age": 0.0}


def test_no_declared_sensitive_feature_cannot_be_judged() -> None:
    assessment = explained()
    assessment.results["sensitive_share"]["features"] = []

    result = verdict("explainability", context(version(assessment)), max_sensitive_share=0.1)

    assert not result.passed
    assert "declares no sensitive features" in result.reason


def test_a_share_that_is_not_a_finite_number_fails() -> None:
    assessment = explained()
    assessment.results["sensitive_share"]["by_feature"]["sex"] = math.nan

    result = verdict("explainability", context(version(assessment)), max_sensitive_share=0.1)

    assert not result.passed
    assert "not a finite number" in result.reason


# --- evidence_freshness ----------------------------------------------------------------------


def all_kinds(age_days: float = 1, **kwargs: Any) -> tuple[AssessmentFacts, ...]:
    return (
        facts("performance", id=1, age_days=age_days, **kwargs),
        facts("fairness", id=2, age_days=age_days, **kwargs),
        facts("explainability", id=3, age_days=age_days, **kwargs),
    )


def test_evidence_of_every_kind_within_the_age_passes() -> None:
    result = verdict("evidence_freshness", context(version(*all_kinds(10))), max_age_days=90)

    assert result.passed
    assert result.observed == {
        "age_days": {"performance": 10.0, "fairness": 10.0, "explainability": 10.0},
        "datasets": ["adult-eval"],
    }
    assert result.evidence["assessments"] == [1, 2, 3]


def test_stale_evidence_fails_with_its_age() -> None:
    stale = facts("fairness", id=2, age_days=100)
    subject = version(facts("performance", id=1), stale, facts("explainability", id=3))

    result = verdict("evidence_freshness", context(subject), max_age_days=90)

    assert not result.passed
    assert result.reason == "the newest fairness assessment (#2) is 100 days old"


def test_evidence_exactly_at_the_age_limit_passes() -> None:
    subject = version(facts("performance", age_days=90))

    assert verdict(
        "evidence_freshness", context(subject), max_age_days=90, kinds=["performance"]
    ).passed


def test_the_newest_assessment_of_a_kind_decides_freshness() -> None:
    subject = version(
        facts("performance", id=5, age_days=2), facts("performance", id=4, age_days=300)
    )

    result = verdict("evidence_freshness", context(subject), max_age_days=30, kinds=["performance"])

    assert result.passed
    assert result.evidence["assessments"] == [5]


def test_fresh_evidence_on_another_artifact_digest_is_ignored() -> None:
    subject = version(
        facts("performance", id=9, sha=OTHER_SHA, age_days=0),
        facts("performance", id=1, age_days=200),
    )

    result = verdict("evidence_freshness", context(subject), max_age_days=30, kinds=["performance"])
    only_other = verdict(
        "evidence_freshness",
        context(version(facts("performance", sha=OTHER_SHA))),
        max_age_days=30,
        kinds=["performance"],
    )

    assert not result.passed
    assert result.reason == "the newest performance assessment (#1) is 200 days old"
    assert not only_other.passed
    assert only_other.reason == "no performance assessment of this artifact on adult-eval"


def test_evidence_on_an_undeclared_dataset_does_not_count() -> None:
    subject = version(facts("performance", dataset_version="scratch:1"))

    result = verdict("evidence_freshness", context(subject), max_age_days=30, kinds=["performance"])

    assert not result.passed
    assert result.reason == "no performance assessment of this artifact on adult-eval"


def test_the_check_can_name_its_dataset() -> None:
    subject = version(facts("performance", dataset_version="holdout:2"), *all_kinds()[1:])

    named = verdict(
        "evidence_freshness",
        context(subject),
        max_age_days=30,
        kinds=["performance"],
        dataset="holdout",
    )
    declared = verdict("evidence_freshness", context(subject), max_age_days=30)

    assert named.passed
    assert named.observed["datasets"] == ["holdout"]
    assert not declared.passed
    assert declared.reason == "no performance assessment of this artifact on adult-eval"


def test_no_declared_evaluation_dataset_fails() -> None:
    subject = version(*all_kinds(), evaluation_datasets=())

    result = verdict("evidence_freshness", context(subject), max_age_days=90)

    assert not result.passed
    assert result.reason.startswith("the version declares no evaluation dataset")


def test_freshness_is_judged_at_the_contexts_moment_not_the_clock() -> None:
    subject = version(facts("performance", age_days=10))

    later = context(subject, now=NOW + timedelta(days=30))

    assert not verdict("evidence_freshness", later, max_age_days=30, kinds=["performance"]).passed


def test_every_missing_kind_is_reported() -> None:
    result = verdict("evidence_freshness", context(version(facts("fairness"))), max_age_days=90)

    assert result.reason == (
        "no performance assessment of this artifact on adult-eval; "
        "no explainability assessment of this artifact on adult-eval"
    )


# --- lineage, documentation, artifact safety -------------------------------------------------


def test_lineage_with_a_registered_training_dataset_and_code_reference_passes() -> None:
    result = verdict("lineage_complete", context(version()))

    assert result.passed
    assert result.reason == (
        "training dataset: adult-train:1; "
        f"code reference: https://git.example.org/credit/income@{'f' * 40}"
    )


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"training_datasets": ()}, "training dataset missing"),
        ({"training_datasets": (("adult-train:1", ""),)}, "training dataset missing"),
        ({"code_commit": ""}, "code reference missing"),
        ({"code_repository": ""}, "code reference missing"),
    ],
)
def test_incomplete_lineage_fails_naming_what_is_missing(
    fields: dict[str, Any], missing: str
) -> None:
    result = verdict("lineage_complete", context(version(**fields)))

    assert not result.passed
    assert missing in result.reason


def test_lineage_can_require_the_evaluation_dataset_and_parent() -> None:
    require = ["evaluation_dataset", "parent_version"]

    without_parent = verdict("lineage_complete", context(version()), require=require)
    with_parent = verdict("lineage_complete", context(version(parent="income:1")), require=require)

    assert not without_parent.passed
    assert without_parent.reason == "parent version missing: no parent version"
    assert with_parent.passed
    assert with_parent.observed == {
        "evaluation_dataset": ["adult-eval:1"],
        "parent_version": ["income:1"],
    }


def test_named_model_card_fields_must_be_filled_in() -> None:
    card = dict(CARD, limitations="   ", tags=[])
    ctx = context(version(model_card=card))

    result = verdict("documentation_complete", ctx, fields=["title", "limitations", "tags"])
    ok = verdict("documentation_complete", ctx, fields=["title", "description"])

    assert not result.passed
    assert result.reason == "model card fields empty: limitations, tags"
    assert result.observed == {"title": True, "limitations": False, "tags": False}
    assert ok.passed


def test_a_safe_artifact_passes() -> None:
    result = verdict("artifact_safety", context(version()))

    assert result.passed
    assert result.observed == {"format": "skops", "is_unsafe": False, "artifact_sha256": SHA}


def test_an_artifact_marked_unsafe_fails_even_if_its_format_is_allowed() -> None:
    ctx = context(version(artifact_format="pickle", is_unsafe=True))

    result = verdict("artifact_safety", ctx, allowed_formats=["pickle", "skops"])

    assert not result.passed
    assert result.reason.startswith("the artifact is marked unsafe (pickle")


def test_a_format_the_policy_does_not_allow_fails() -> None:
    ctx = context(version(artifact_format="onnx"))

    result = verdict("artifact_safety", ctx, allowed_formats=["skops"])

    assert not result.passed
    assert result.reason == "format onnx is not allowed by this policy"
    assert verdict("artifact_safety", ctx).passed  # onnx is in the default safe list


# --- approvals and their validity ------------------------------------------------------------


def request(*approvals: tuple[str, str, float]) -> RequestFacts:
    return RequestFacts(
        id=42,
        requested_by="dana",
        created_at=NOW - timedelta(days=40),
        approvals=tuple(
            ApprovalFacts(reviewer=who, role=role, created_at=NOW - timedelta(days=age))
            for who, role, age in approvals
        ),
    )


ROLES = {"roles": {"validator": 1, "risk officer": 1}}


def test_approvals_without_a_request_fail() -> None:
    result = verdict("approvals", context(version()), **ROLES)

    assert not result.passed
    assert (
        result.reason == "no promotion request yet: needs approval by 1 validator, 1 risk officer"
    )


def test_approvals_wait_for_every_required_role() -> None:
    ctx = context(version(), request=request(("vera", "validator", 1)))

    result = verdict("approvals", ctx, **ROLES)

    assert not result.passed
    assert result.reason == "waiting for approval by 1 risk officer"
    assert result.evidence == {"promotion_request": 42}


def test_approvals_by_every_required_role_pass() -> None:
    ctx = context(version(), request=request(("vera", "validator", 1), ("rita", "risk officer", 0)))

    result = verdict("approvals", ctx, **ROLES)

    assert result.passed
    assert result.reason == "approved by vera (validator), rita (risk officer)"
    assert result.observed["approvals"] == {"validator": 1, "risk officer": 1}


def test_approvals_are_counted_per_role() -> None:
    one = context(
        version(), request=request(("vera", "validator", 1), ("dan", "data scientist", 1))
    )
    two = context(version(), request=request(("vera", "validator", 1), ("val", "validator", 1)))

    result = verdict("approvals", one, roles={"validator": 2})

    assert not result.passed
    assert result.reason == "waiting for approval by 1 validator"
    assert verdict("approvals", two, roles={"validator": 2}).passed


def test_approval_validity_passes_before_any_approval() -> None:
    assert verdict("approval_validity", context(version()), days=30).passed
    assert verdict("approval_validity", context(version(), request=request()), days=30).passed


def test_an_approval_older_than_its_validity_fails() -> None:
    ctx = context(
        version(), request=request(("vera", "validator", 31), ("rita", "risk officer", 2))
    )

    result = verdict("approval_validity", ctx, days=30)

    assert not result.passed
    assert result.reason == (
        "approval expired after 30 days: vera (validator) on 2026-03-31; re-review is due "
        "(withdraw and request again)"
    )
    assert result.observed == {"expired": ["vera (validator) on 2026-03-31"]}


def test_an_approval_exactly_at_its_validity_is_still_valid() -> None:
    ctx = context(version(), request=request(("vera", "validator", 30)))

    assert verdict("approval_validity", ctx, days=30).passed


# --- across check types ----------------------------------------------------------------------

EVERY_TYPE: list[tuple[str, dict[str, Any]]] = [
    ("metric_threshold", {"metric": "roc_auc", "min": 0.8, "max_regression": 0.01}),
    ("fairness_threshold", {"metric": "demographic_parity_difference", "max": 0.1}),
    (
        "fairness_threshold",
        {"metric": "equalized_odds_difference", "max": 0.1, "features": ["sex"]},
    ),
    ("explainability", {"max_sensitive_share": 0.1}),
    ("evidence_freshness", {"max_age_days": 30}),
    ("lineage_complete", {}),
    ("documentation_complete", {"fields": ["title", "description"]}),
    ("artifact_safety", {}),
    ("approvals", ROLES),
    ("approval_validity", {"days": 30}),
    ("no_open_findings", {"min_severity": "high"}),
]


def complete_context() -> EvidenceContext:
    return context(
        version(*all_kinds()),
        prod=production(facts("performance", id=20, sha=PRODUCTION_SHA)),
        request=request(("vera", "validator", 1), ("rita", "risk officer", 1)),
    )


def test_every_check_type_is_covered_here() -> None:
    assert {t for t, _ in EVERY_TYPE} == set(REGISTRY)


@pytest.mark.parametrize(("check_type", "params"), EVERY_TYPE, ids=[t for t, _ in EVERY_TYPE])
def test_every_check_type_passes_on_complete_evidence(
    check_type: str, params: dict[str, Any]
) -> None:
    result = verdict(check_type, complete_context(), **params)

    assert result.passed, result.reason


@pytest.mark.parametrize(("check_type", "params"), EVERY_TYPE, ids=[t for t, _ in EVERY_TYPE])
def test_every_check_type_is_a_pure_function_of_its_context(
    check_type: str, params: dict[str, Any]
) -> None:
    ctx = complete_context()

    assert verdict(check_type, ctx, **params) == verdict(check_type, ctx, **params)


def moved_to(
    assessment: AssessmentFacts, sha: str, new_id: int, results: dict[str, Any]
) -> AssessmentFacts:
    return dataclasses.replace(
        assessment, id=new_id, artifact_sha256=sha, finished_at=NOW, results=results
    )


BAD_RESULTS = {
    "performance": performance_results(roc_auc=0.1, log_loss=9.0),
    "fairness": fairness_results(
        {
            "sex": {"demographic_parity_difference": 0.9, "equalized_odds_difference": 0.9},
            "race": {"demographic_parity_difference": 0.9, "equalized_odds_difference": 0.9},
        }
    ),
    "explainability": explainability_results(0.9),
}
GOOD_RESULTS = {
    "performance": performance_results(roc_auc=0.99),
    "fairness": fairness_results(),
    "explainability": explainability_results(0.01),
}


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, len(EVERY_TYPE) - 1),
    foreign=st.lists(
        st.tuples(st.sampled_from(["performance", "fairness", "explainability"]), st.booleans()),
        max_size=4,
    ),
    with_own=st.booleans(),
)
def test_evidence_on_another_artifact_digest_never_changes_a_verdict(
    index: int, foreign: list[tuple[str, bool]], with_own: bool
) -> None:
    """Adding newer assessments of another digest (good or bad numbers) to the candidate or to
    production leaves every check's verdict exactly as it was."""
    check_type, params = EVERY_TYPE[index]
    own = all_kinds() if with_own else ()
    prod_own = (facts("performance", id=20, sha=PRODUCTION_SHA),) if with_own else ()
    base = context(
        version(*own), prod=production(*prod_own), request=request(("vera", "validator", 1))
    )
    extra = tuple(
        moved_to(facts(kind), OTHER_SHA, 100 + i, (GOOD_RESULTS if good else BAD_RESULTS)[kind])
        for i, (kind, good) in enumerate(foreign)
    )
    polluted = dataclasses.replace(
        base,
        version=dataclasses.replace(base.version, assessments=extra + base.version.assessments),
        production=dataclasses.replace(
            base.production, assessments=extra + base.production.assessments
        ),
    )

    assert verdict(check_type, polluted, **params) == verdict(check_type, base, **params)


# --- monotone verdicts -----------------------------------------------------------------------

unit = st.floats(min_value=0, max_value=1, allow_nan=False)


def metric_passes(
    value: float, metric: str = "roc_auc", prod: float | None = None, **params: Any
) -> bool:
    production_facts = None
    if prod is not None:
        production_facts = production(
            facts("performance", performance_results(**{metric: prod}), id=20, sha=PRODUCTION_SHA)
        )
    ctx = context(version(perf(**{metric: value})), prod=production_facts)
    return verdict("metric_threshold", ctx, metric=metric, **params).passed


@settings(max_examples=200, deadline=None)
@given(a=unit, b=unit, low=unit, width=unit)
def test_a_metric_threshold_verdict_is_monotone_in_the_observed_value(
    a: float, b: float, low: float, width: float
) -> None:
    lo, hi = sorted((a, b))
    # Higher is better: what passes at lo passes at hi.
    if metric_passes(lo, min=low):
        assert metric_passes(hi, min=low)
    # Lower is better: what passes at hi passes at lo.
    if metric_passes(hi, "log_loss", max=low):
        assert metric_passes(lo, "log_loss", max=low)
    # Inside [min, max] passes, outside fails.
    bounds = {"min": low, "max": min(1.0, low + width)}
    assert metric_passes(lo, **bounds) == (bounds["min"] <= lo <= bounds["max"])


@settings(max_examples=200, deadline=None)
@given(a=unit, b=unit, base=unit, allowance=st.floats(min_value=0, max_value=0.5))
def test_a_regression_verdict_is_monotone_in_the_observed_value(
    a: float, b: float, base: float, allowance: float
) -> None:
    lo, hi = sorted((a, b))
    if metric_passes(lo, prod=base, max_regression=allowance):
        assert metric_passes(hi, prod=base, max_regression=allowance)
    if metric_passes(hi, "log_loss", prod=base, max_regression=allowance):
        assert metric_passes(lo, "log_loss", prod=base, max_regression=allowance)
    # No worse than production always passes; worse by more than the allowance (well beyond
    # rounding) always fails.
    assert metric_passes(base, prod=base, max_regression=allowance)
    if base - lo > allowance + 1e-9:
        assert not metric_passes(lo, prod=base, max_regression=allowance)


@settings(max_examples=200, deadline=None)
@given(a=unit, b=unit, limit=unit, use_bound=st.booleans())
def test_a_fairness_verdict_is_monotone_in_the_disparity(
    a: float, b: float, limit: float, use_bound: bool
) -> None:
    lo, hi = sorted((a, b))

    def passes(value: float, metric: str, **bounds: float) -> bool:
        ctx = context(version(fair({"sex": {metric: value}})))
        return verdict(
            "fairness_threshold",
            ctx,
            metric=metric,
            features=["sex"],
            use_confidence_bound=use_bound,
            **bounds,
        ).passed

    if passes(hi, "equalized_odds_difference", max=limit):
        assert passes(lo, "equalized_odds_difference", max=limit)
    if passes(lo, "demographic_parity_ratio", min=limit):
        assert passes(hi, "demographic_parity_ratio", min=limit)


@settings(max_examples=200, deadline=None)
@given(
    value=st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.lists(st.floats(), max_size=2)
)
def test_a_metric_threshold_never_raises_and_passes_only_on_a_finite_value_in_bounds(
    value: Any,
) -> None:
    result = verdict(
        "metric_threshold",
        context(version(perf(roc_auc=value))),
        metric="roc_auc",
        min=0.5,
        max=2.0,
    )

    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    assert result.passed == (finite and 0.5 <= value <= 2.0)

"""The promotion request page: what each role sees, the comparison's numbers, the evidence
status, the timeline, query counts that do not grow with the data, the progress fragment and
the chart files.

Versions and evidence come from tests/governance/gate_setup.py (assessment rows in the shape the
jobs write); requests, reviews and findings go through the services, so every row has its audit
events."""

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import roles
from governance.jobs import state
from governance.models import Assessment, AssessmentChart, PromotionRequest
from governance.pages import comparison, request_page
from governance.services import assessments, promotions, stages
from registry import storage
from registry.models import ModelVersion, Stage
from tests.factories import DatasetVersionFactory, UserFactory
from tests.governance import finding_setup
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

JUSTIFY = "mitigated version; needed for the Q3 release"
CANDIDATE_PERFORMANCE = {"roc_auc": 0.92, "log_loss": 0.40, "accuracy": 0.85}
PRODUCTION_PERFORMANCE = {"roc_auc": 0.90, "log_loss": 0.32, "accuracy": 0.85}
# Race above the high-risk pack's 0.10 demographic parity limit: the fairness check fails.
CANDIDATE_FAIRNESS = {
    "sex": {"demographic_parity_difference": 0.04, "equalized_odds_difference": 0.03},
    "race": {"demographic_parity_difference": 0.15, "equalized_odds_difference": 0.05},
}


def shap(share: float, **importance: float) -> dict[str, Any]:
    """Explainability results with a global importance (mean |SHAP| per source feature)."""
    results = g.explainability_results(share)
    results["global_importance"] = {"income": 0.5, "x": 0.1, **importance}
    return results


@dataclass
class Scene:
    production: ModelVersion
    candidate: ModelVersion
    request: PromotionRequest

    @property
    def url(self) -> str:
        return reverse("web:request", args=[self.request.pk])


def in_production(version: ModelVersion, by: Any) -> None:
    with transaction.atomic():
        stages.move(version, Stage.PRODUCTION, by=by, kind="promotion")


def build_scene(team: Any, data_scientist: Any, risk_officer: Any) -> Scene:
    """v1 in production, v2 the candidate with its request open for production."""
    production = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(production, "performance", g.performance_results(**PRODUCTION_PERFORMANCE))
    g.evidence(production, "fairness")
    g.evidence(production, "explainability", shap(0.05, age=0.3, sex=0.2))
    in_production(production, risk_officer)
    candidate = g.governed_version(
        registrant=data_scientist, team=team, model=production.model, parent=production
    )
    g.evidence(candidate, "performance", g.performance_results(**CANDIDATE_PERFORMANCE))
    g.evidence(candidate, "fairness", g.fairness_results(CANDIDATE_FAIRNESS))
    g.evidence(candidate, "explainability", shap(0.08, age=0.25, sex=0.04))
    request = promotions.open_request(
        by=data_scientist, version=candidate, target_stage="production", justification=JUSTIFY
    )
    return Scene(production, candidate, request)


@pytest.fixture
def scene(team: Any, data_scientist: Any, risk_officer: Any) -> Scene:
    g.install_default_pack(risk_officer)
    return build_scene(team, data_scientist, risk_officer)


def selectors_in(html: str) -> set[str]:
    return set(re.findall(r'data-testid="([^"]+)"', html))


def forms(html: str) -> list[str]:
    return re.findall(r"<form\b[^>]*>", html)


def get(client: Any, user: Any, url: str, **headers: Any) -> Any:
    client.force_login(user)
    return client.get(url, **headers)


# --- what each role sees -----------------------------------------------------------------------


def test_a_validator_sees_everything_needed_to_decide(client, scene, validator):
    response = get(client, validator, scene.url)

    assert response.status_code == 200
    html = response.content.decode()
    assert {
        "request-status",
        "approvals",
        "comparison",
        "checks",
        "check-row",
        "re-evaluate",
        "dry-run",
        "missing-evidence",
        "lineage",
        "model-card",
        "timeline",
        "timeline-item",
        "decision-form",
        "findings",
    } <= selectors_in(html)
    assert re.search(r'data-testid="request-status">open<', html)
    # The decision form: a labelled comment and the two decisions.
    assert '<label for="id_comment">Comment</label>' in html
    assert '<textarea name="comment" id="id_comment"' in html
    assert re.search(r'name="decision" value="approve"[^>]*>Approve</button>', html)
    assert re.search(r'name="decision" value="reject"[^>]*>Reject</button>', html)
    assert 'data-testid="re-evaluate">Re-evaluate now</button>' in html
    # The failing fairness check shows as failing, the model card check as passing.
    assert re.search(r'data-check-id="fairness-demographic-parity" data-passed="false"', html)
    assert re.search(r'data-check-id="model-card" data-passed="true"', html)
    assert "Article 10: data and data governance" in html  # a clause with its title
    # Required approvals by role, nobody yet.
    assert 'data-role="validator" data-missing="1"' in html
    assert 'data-role="risk officer" data-missing="1"' in html
    assert 'data-testid="timeline-item" data-action="promotion.requested"' in html
    assert 'data-testid="decision-refusal"' not in html


def test_the_requester_sees_why_they_cannot_decide_and_may_withdraw(client, scene, data_scientist):
    html = get(client, data_scientist, scene.url).content.decode()

    assert 'data-testid="decision-form"' not in html
    assert re.search(r'data-testid="decision-refusal" data-code="self_review">[^<]*you made', html)
    assert 'data-testid="withdraw-form"' in html
    assert 'data-testid="re-evaluate"' in html  # the owning team may dry-run its version


def test_the_auditor_sees_every_section_and_no_form(client, scene, auditor):
    html = get(client, auditor, scene.url).content.decode()

    assert {"approvals", "comparison", "checks", "timeline", "findings"} <= selectors_in(html)
    assert re.search(r'data-testid="decision-refusal" data-code="not_a_reviewer"', html)
    # The only form on the page is the sign-out form of the layout.
    assert len(forms(html)) == 1
    assert "/accounts/logout/" in forms(html)[0]
    assert "<button" in html and "Sign out" in html
    assert "Run performance assessment" not in html
    assert 'data-testid="re-evaluate"' not in html


def test_a_data_scientist_of_another_team_gets_403(client, scene, other_data_scientist):
    assert get(client, other_data_scientist, scene.url).status_code == 403


def test_someone_without_a_role_gets_403(client, scene, outsider):
    assert get(client, outsider, scene.url).status_code == 403


def test_an_unknown_request_is_404(client, scene, validator):
    url = reverse("web:request", args=[scene.request.pk + 1000])
    assert get(client, validator, url).status_code == 404


def test_signed_out_visitors_are_sent_to_the_login_page(client, scene):
    response = client.get(scene.url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_reviewer_who_already_approved_sees_the_reason_and_who_approved(client, scene, validator):
    promotions.review(by=validator, request=scene.request, decision="approve", comment="fine")

    html = get(client, validator, scene.url).content.decode()

    assert re.search(r'data-testid="decision-refusal" data-code="already_reviewed"', html)
    assert 'data-role="validator" data-missing="0"' in html
    assert '<span data-testid="approval-given">vera</span>' in html
    assert 'data-action="promotion.reviewed"' in html


def test_a_second_validator_is_offered_only_reject_once_the_validator_approval_is_in(
    client, scene, validator
):
    promotions.review(by=validator, request=scene.request, decision="approve", comment="fine")
    second = UserFactory(username="val2", roles=[roles.VALIDATOR])

    html = get(client, second, scene.url).content.decode()

    assert 'data-testid="decision-form"' in html
    assert 'value="reject"' in html and 'value="approve"' not in html
    assert re.search(r'data-testid="approve-refusal" data-code="role_complete"', html)
    # The service gives the same answer to a forged approval.
    refusal = promotions.review_refusal(second, scene.request, "approve")
    assert refusal is not None and refusal.code == "role_complete"


# --- the comparison ----------------------------------------------------------------------------


def test_the_comparison_marks_better_and_worse_by_each_metrics_direction(scene, validator):
    page = request_page.build(validator, scene.request.pk)
    compared = page.comparison

    assert compared.production is not None
    assert compared.production.version == scene.production
    assert compared.metrics_comparable
    rows = {row.metric: row for row in compared.metrics}
    assert rows["roc_auc"].difference == pytest.approx(0.02)
    assert rows["roc_auc"].verdict == "better"  # higher is better
    assert rows["log_loss"].difference == pytest.approx(0.08)
    assert rows["log_loss"].verdict == "worse"  # lower is better
    assert rows["accuracy"].verdict == "same"
    assert compared.candidate.performance.dataset == compared.production.performance.dataset
    assert compared.candidate.performance.on_declared

    race = next(f for f in compared.fairness if f.feature == "race")
    parity = next(r for r in race.rows if r.metric == "demographic_parity_difference")
    assert parity.candidate.value == pytest.approx(0.15)
    assert (parity.candidate.low, parity.candidate.high) == pytest.approx((0.13, 0.17))
    assert parity.production.value == pytest.approx(0.06)
    assert parity.verdict == "worse"  # a larger disparity

    assert compared.candidate.sensitive_share_percent == pytest.approx(8.0)
    assert compared.production.sensitive_share_percent == pytest.approx(5.0)
    assert compared.share_difference == pytest.approx(3.0)
    assert compared.share_verdict == "worse"
    importance = {row.feature: row for row in compared.importance}
    assert [row.feature for row in compared.importance] == ["income", "age", "x", "sex"]
    assert (importance["age"].candidate, importance["age"].production) == (0.25, 0.3)
    assert importance["sex"].sensitive and not importance["age"].sensitive
    assert (importance["sex"].candidate_rank, importance["sex"].production_rank) == (4, 3)


def test_numbers_on_different_datasets_are_shown_but_not_compared(
    team, data_scientist, risk_officer
):
    production = g.governed_version(registrant=data_scientist, team=team)
    other_data = DatasetVersionFactory(created_by=data_scientist)
    g.evidence(production, "performance", dataset_version=other_data)
    in_production(production, risk_officer)
    candidate = g.governed_version(registrant=data_scientist, team=team, model=production.model)
    g.evidence(candidate, "performance")
    declared = [assessments.declared_evaluation_dataset(candidate)]

    compared = comparison.build(candidate, production, evaluation_datasets=declared)

    assert not compared.metrics_comparable
    assert compared.production.performance.dataset == str(other_data)
    assert not compared.production.performance.on_declared
    roc = next(row for row in compared.metrics if row.metric == "roc_auc")
    assert roc.candidate == pytest.approx(0.9) and roc.production == pytest.approx(0.9)
    assert roc.difference is None and roc.verdict is None
    assert roc.note == "measured on different datasets: not compared"


def test_evidence_about_another_artifact_is_not_compared(team, data_scientist):
    candidate = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(candidate, "performance", artifact_sha256="f" * 64)

    compared = comparison.build(candidate, None)

    assert compared.candidate.performance is None
    assert compared.metrics == ()


def test_the_page_links_the_charts_of_both_versions(client, scene, validator):
    fairness = Assessment.objects.filter(model_version=scene.candidate, kind="fairness").get()
    shap = Assessment.objects.filter(model_version=scene.production, kind="explainability").get()
    chart(fairness, "fairness-race")
    chart(shap, "shap-importance")

    html = get(client, validator, scene.url).content.decode()

    race_chart = reverse("web:assessment-chart", args=[fairness.pk, "fairness-race", "png"])
    shap_chart = reverse("web:assessment-chart", args=[shap.pk, "shap-importance", "png"])
    assert f'src="{race_chart}"' in html
    assert f'src="{shap_chart}"' in html
    assert re.search(r'<img [^>]*alt="[^"]*candidate[^"]*fairness assessment', html)
    assert re.search(r'<img [^>]*alt="[^"]*production[^"]*explainability assessment', html)


# --- evidence status ---------------------------------------------------------------------------


def test_missing_and_stale_evidence_is_listed_with_a_button_for_who_may_queue_it(
    client, team, data_scientist, risk_officer, validator, auditor
):
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.evidence(version, "performance", age_days=120)  # older than the pack's 90 days
    g.evidence(version, "explainability")
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )

    page = request_page.build(validator, request.pk)

    states = {k.kind: k.state for k in page.evidence.kinds}
    assert states == {"performance": "stale", "fairness": "missing", "explainability": "present"}
    assert all(k.may_queue for k in page.evidence.missing)
    html = get(client, validator, reverse("web:request", args=[request.pk])).content.decode()
    assert "Run performance assessment</button>" in html
    assert "Run fairness assessment</button>" in html
    assert "Run explainability assessment</button>" not in html
    # Auditors run nothing.
    audited = request_page.build(auditor, request.pk)
    assert not any(k.may_queue for k in audited.evidence.kinds)


def test_a_fairness_run_that_misses_a_declared_sensitive_feature_is_incomplete(
    team, data_scientist, risk_officer, validator
):
    g.install_default_pack(risk_officer)
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(
        version, fairness=g.fairness_results({"sex": {"demographic_parity_difference": 0.01}})
    )
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )

    fairness = next(
        k for k in request_page.build(validator, request.pk).evidence.kinds if k.kind == "fairness"
    )

    assert fairness.state == "incomplete"
    assert "race" in fairness.reason


# --- query counts ------------------------------------------------------------------------------


def page_queries(client: Any, user: Any, url: str) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_page_issues_the_same_queries_whatever_the_amount_of_history(
    client, team, data_scientist, risk_officer, validator, django_assert_max_num_queries
):
    # Many validators required, so that many reviews leave the request open.
    g.simple_policy(
        risk_officer,
        roles={roles.VALIDATOR: 12},
        checks=[
            {
                "id": "fair",
                "type": "fairness_threshold",
                "metric": "demographic_parity_difference",
                "max": 0.1,
            },
            {"id": "shap", "type": "explainability", "max_sensitive_share": 0.1},
            {"id": "findings", "type": "no_open_findings"},
        ],
    )
    scene = build_scene(team, data_scientist, risk_officer)
    first = UserFactory(username="val-0", roles=[roles.VALIDATOR])
    promotions.review(by=first, request=scene.request, decision="approve", comment="ok")
    finding_setup.raised(validator, scene.candidate, data_scientist, request=scene.request)
    small = page_queries(client, validator, scene.url)
    assert small < 40

    # More of everything: reviews, evaluations (and their checks), findings, events, versions.
    for n in range(1, 9):
        reviewer = UserFactory(username=f"val-{n}", roles=[roles.VALIDATOR])
        promotions.review(by=reviewer, request=scene.request, decision="approve", comment="ok")
    for _ in range(4):
        request_page.re_evaluate(validator, scene.request.pk)
    for n in range(5):
        finding_setup.raised(
            validator, scene.candidate, data_scientist, request=scene.request, title=f"issue {n}"
        )
    for _ in range(6):
        other = g.governed_version(
            registrant=data_scientist, team=team, model=scene.candidate.model
        )
        g.full_evidence(other)
    g.full_evidence(scene.candidate)
    assert PromotionRequest.objects.get(pk=scene.request.pk).status == "open"

    client.force_login(validator)
    with django_assert_max_num_queries(small):
        response = client.get(scene.url)
    assert response.status_code == 200
    actions = Counter(
        re.findall(r'data-testid="timeline-item" data-action="([^"]+)"', response.content.decode())
    )
    # Every event of the request, its reviews, its evaluations and its findings, nothing else.
    assert actions == {
        "promotion.requested": 1,
        "promotion.reviewed": 9,
        "policy.evaluated": 5,  # the first look when the request was opened, and 4 dry-runs
        "finding.raised": 6,
    }


# --- progress and charts -----------------------------------------------------------------------


def queued(version: ModelVersion, by: Any, kind: str = "performance") -> Assessment:
    dataset_version = assessments.declared_evaluation_dataset(version)
    return Assessment.objects.create(
        kind=kind,
        model_version=version,
        dataset_version=dataset_version,
        sensitive_features=[],
        parameters={},
        request_key=f"queued-{kind}-{version.pk}-{Assessment.objects.count()}",
        artifact_sha256=version.artifact_sha256,
        dataset_sha256=dataset_version.sha256,
        requested_by=by,
    )


def test_the_progress_fragment_polls_while_queued_and_running(client, scene, validator):
    assessment = queued(scene.candidate, validator)
    url = reverse("web:assessment-progress", args=[assessment.pk])

    html = get(client, validator, url, HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r'<progress [^>]*data-testid="assessment-progress" max="100" value="0"', html)
    assert 'hx-trigger="every 1s"' in html

    run = state.claim(assessment.pk)
    assert run is not None
    run.report(40, "computing metrics", force=True)
    response = get(client, validator, url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "HX-Refresh" not in response
    html = response.content.decode()
    assert 'data-status="running"' in html
    assert re.search(r'<progress [^>]*value="40"', html)
    assert "computing metrics" in html
    assert 'hx-trigger="every 1s"' in html


def test_a_finished_assessment_asks_htmx_to_reload_and_stops_polling(client, scene, validator):
    assessment = queued(scene.candidate, validator)
    run = state.claim(assessment.pk)
    assert run.succeed(
        results=g.performance_results(),
        results_sha256="1" * 64,
        provenance={},
        timings={},
        charts=[],
    )
    url = reverse("web:assessment-progress", args=[assessment.pk])

    polled = get(client, validator, url, HTTP_HX_REQUEST="true")
    assert polled["HX-Refresh"] == "true"
    assert "every 1s" not in polled.content.decode()
    # Without JavaScript: the state and a reload link, no header.
    plain = client.get(url)
    assert "HX-Refresh" not in plain
    assert "succeeded" in plain.content.decode() and "Reload the page" in plain.content.decode()


def test_progress_is_refused_to_who_may_not_see_the_model(client, scene, other_data_scientist):
    assessment = queued(scene.candidate, scene.candidate.created_by)
    url = reverse("web:assessment-progress", args=[assessment.pk])
    assert get(client, other_data_scientist, url).status_code == 403
    assert client.get(reverse("web:assessment-progress", args=[10**6])).status_code == 404


def chart(assessment: Assessment, name: str, content: bytes = b"\x89PNG fake chart") -> bytes:
    key, sha, size = storage.put_bytes("charts", content)
    AssessmentChart.objects.create(
        assessment=assessment,
        name=name,
        title=f"Chart {name}",
        format="png",
        file_key=key,
        sha256=sha,
        size=size,
    )
    return content


def test_a_chart_is_served_to_who_may_see_the_model(client, scene, auditor, other_data_scientist):
    fairness = Assessment.objects.filter(model_version=scene.candidate, kind="fairness").get()
    content = chart(fairness, "fairness-sex")
    url = reverse("web:assessment-chart", args=[fairness.pk, "fairness-sex", "png"])

    response = get(client, auditor, url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response) == content
    assert response["ETag"] == f'"{AssessmentChart.objects.get().sha256}"'

    assert get(client, other_data_scientist, url).status_code == 403
    missing = reverse("web:assessment-chart", args=[fairness.pk, "fairness-sex", "svg"])
    assert get(client, auditor, missing).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_a_failed_assessment_shows_its_reason_and_stops_polling(client, scene, validator):
    assessment = queued(scene.candidate, validator)
    run = state.claim(assessment.pk)
    assert run is not None and run.fail("model_error", "the model crashed on row 3")
    url = reverse("web:assessment-progress", args=[assessment.pk])

    response = get(client, validator, url, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response["HX-Refresh"] == "true"
    assert "failed: the model crashed on row 3" in html
    assert "<progress" not in html

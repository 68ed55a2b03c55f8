"""The catalogue (/models/), a model's page and a version's page: who sees what, the filters,
pagination, stage history and "which version was in production on a date", bounded queries,
and the version page's actions (request promotion, queue an assessment) through the services."""

from datetime import datetime
from typing import Any
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from core import roles
from governance.models import (
    Assessment,
    AssessmentChart,
    PromotionRequest,
    StageChange,
)
from governance.services import findings, promotions
from registry.models import EdgeKind, LineageEdge
from tests.factories import (
    DatasetVersionFactory,
    ModelVersionFactory,
    RegisteredModelFactory,
    TeamFactory,
    UserFactory,
)
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

JUSTIFY = "passes validation; needed for the Q3 release"
CATALOGUE = "/models/"


def posting_forms(html: str) -> int:
    return html.count('method="post"')


@pytest.fixture
def policy(risk_officer: Any) -> None:
    g.simple_policy(risk_officer, roles={"validator": 1})


@pytest.fixture
def version(policy: Any, data_scientist: Any, team: Any) -> Any:
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)
    return version


def model_url(model: Any) -> str:
    return reverse("web:model", args=[model.name])


def version_url(version: Any) -> str:
    return reverse("web:version", args=[version.model.name, version.version])


def promote(version: Any, requester: Any, reviewer: Any, stage: str = "production") -> Any:
    request = promotions.open_request(
        by=requester, version=version, target_stage=stage, justification=JUSTIFY
    )
    request = promotions.review(by=reviewer, request=request, decision="approve", comment="ok")
    assert request.status == "completed", request.status_reason
    return request


def raise_finding(version: Any, by: Any, owner: Any, severity: str = "high") -> Any:
    return findings.raise_finding(
        by=by,
        version=version,
        title="Disparity on sex above the limit",
        severity=severity,
        description="Mitigate it or justify it.",
        owner=owner,
    )


# --- who sees which page ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["model", "version", "catalogue"])
def test_anonymous_visitors_go_to_the_login_page_and_back(
    client: Any, version: Any, path: str
) -> None:
    url = {"model": model_url(version.model), "version": version_url(version)}.get(path, CATALOGUE)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("path", ["model", "version", "catalogue"])
def test_a_user_without_a_role_gets_403_everywhere(
    client: Any, version: Any, outsider: Any, path: str
) -> None:
    url = {"model": model_url(version.model), "version": version_url(version)}.get(path, CATALOGUE)
    client.force_login(outsider)
    assert client.get(url).status_code == 403


def test_a_data_scientist_of_another_team_gets_a_readable_403_and_no_catalogue_row(
    client: Any, version: Any, other_data_scientist: Any
) -> None:
    client.force_login(other_data_scientist)
    for url in (model_url(version.model), version_url(version)):
        response = client.get(url)
        assert response.status_code == 403
        assert b"data scientists see their own teams" in response.content
    listing = client.get(CATALOGUE)
    assert listing.status_code == 200
    assert listing.context["page"].total == 0


def test_unknown_models_and_versions_answer_404(client: Any, version: Any, validator: Any) -> None:
    client.force_login(validator)
    assert client.get("/models/no-such-model/").status_code == 404
    assert client.get("/models/no-such-model/versions/1/").status_code == 404
    assert client.get(f"/models/{version.model.name}/versions/99/").status_code == 404


@pytest.mark.parametrize(
    "who", ["data_scientist", "validator", "risk_officer", "auditor", "admin_user"]
)
def test_every_role_that_may_see_the_model_gets_every_page(
    client: Any, version: Any, who: str, request: Any
) -> None:
    client.force_login(request.getfixturevalue(who))
    for url in (CATALOGUE, model_url(version.model), version_url(version)):
        response = client.get(url)
        assert response.status_code == 200, (who, url)
    catalogue = client.get(CATALOGUE).content.decode()
    assert f'data-testid="model-row" data-model="{version.model.name}"' in catalogue


def test_the_auditor_sees_every_page_with_no_form_that_changes_anything(
    client: Any, version: Any, auditor: Any, validator: Any, data_scientist: Any
) -> None:
    raise_finding(version, validator, data_scientist)
    client.force_login(auditor)
    for url in (CATALOGUE, model_url(version.model), version_url(version)):
        html = client.get(url).content.decode()
        assert posting_forms(html) == 1, url  # the sign-out form only
    html = client.get(version_url(version)).content.decode()
    assert 'data-testid="promotion-request-form"' not in html
    assert 'data-testid="assess-form"' not in html
    assert 'data-testid="finding"' in html


# --- the catalogue ---------------------------------------------------------------------------


def test_catalogue_rows_carry_their_versions_and_counts(
    client: Any, version: Any, data_scientist: Any, validator: Any, team: Any
) -> None:
    promote(version, data_scientist, validator)
    newer = g.governed_version(registrant=data_scientist, team=team, model=version.model)
    g.full_evidence(newer)
    promotions.open_request(
        by=data_scientist, version=newer, target_stage="staging", justification=JUSTIFY
    )
    raise_finding(newer, validator, data_scientist)
    raise_finding(version, validator, data_scientist, severity="low")
    client.force_login(validator)
    response = client.get(CATALOGUE)
    [row] = response.context["page"].rows
    assert (row.production_version, row.latest_version) == (version.version, newer.version)
    assert (row.open_requests, row.unresolved_findings) == (1, 2)
    html = response.content.decode()
    assert f'href="{version_url(version)}">v{version.version}</a>' in html


def test_catalogue_filters(
    client: Any, version: Any, data_scientist: Any, validator: Any, team: Any
) -> None:
    fraud = TeamFactory(name="fraud")
    plain = RegisteredModelFactory(
        name="churn-scorer", owner_team=fraud, risk_tier="minimal", description="Scores churn"
    )
    ModelVersionFactory(model=plain, created_by=validator)
    promote(version, data_scientist, validator, stage="staging")
    client.force_login(validator)

    def names(**params: str) -> list[str]:
        response = client.get(CATALOGUE, params)
        assert response.status_code == 200
        return [m.name for m in response.context["page"].rows]

    assert names() == sorted([plain.name, version.model.name])
    assert names(risk_tier="minimal") == [plain.name]
    assert names(team="credit-risk") == [version.model.name]
    assert names(stage="staging") == [version.model.name]
    assert names(stage="production") == []
    assert names(q="churn") == [plain.name]
    assert names(q="income classifier") == [version.model.name]  # title words
    assert names(open_findings="on") == []
    raise_finding(version, validator, data_scientist)
    assert names(open_findings="on") == [version.model.name]
    bad = client.get(CATALOGUE, {"stage": "heaven"})
    assert "heaven is not one of the available choices" in bad.content.decode()
    assert len(bad.context["page"].rows) == 2


def test_blocked_means_held_back_by_something_other_than_missing_approvals(
    client: Any, policy: Any, data_scientist: Any, validator: Any, team: Any
) -> None:
    waiting = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(waiting)
    failing = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(failing, performance=g.performance_results(roc_auc=0.6))
    for v in (waiting, failing):
        promotions.open_request(
            by=data_scientist, version=v, target_stage="production", justification=JUSTIFY
        )
    client.force_login(validator)
    rows = client.get(CATALOGUE, {"blocked": "on"}).context["page"].rows
    assert [m.name for m in rows] == [failing.model.name]
    # Approved but held back by the gate: blocked too.
    request = promotions.review(
        by=validator,
        request=PromotionRequest.objects.get(model_version=failing),
        decision="approve",
        comment="approved; the gate decides",
    )
    assert request.status == "approved" and request.blocking
    rows = client.get(CATALOGUE, {"blocked": "on"}).context["page"].rows
    assert [m.name for m in rows] == [failing.model.name]


def test_the_catalogue_pages_by_25(client: Any, validator: Any, team: Any) -> None:
    for i in range(27):
        RegisteredModelFactory(name=f"m-{i:02d}", owner_team=team)
    client.force_login(validator)
    first = client.get(CATALOGUE)
    assert len(first.context["page"].rows) == 25
    assert first.context["page"].links.next == "?page=2"
    second = client.get(CATALOGUE, {"page": "2"})
    assert [m.name for m in second.context["page"].rows] == ["m-25", "m-26"]


# --- the model page --------------------------------------------------------------------------


def test_the_model_page_lists_versions_with_stage_findings_and_open_request(
    client: Any, version: Any, data_scientist: Any, validator: Any, team: Any
) -> None:
    promote(version, data_scientist, validator)
    newer = g.governed_version(registrant=data_scientist, team=team, model=version.model)
    g.full_evidence(newer)
    request = promotions.open_request(
        by=data_scientist, version=newer, target_stage="production", justification=JUSTIFY
    )
    raise_finding(newer, validator, data_scientist)
    client.force_login(data_scientist)
    response = client.get(model_url(version.model))
    html = response.content.decode()
    rows = {v.version: v for v in response.context["page"].versions}
    assert (rows[newer.version].unresolved_findings, rows[newer.version].active_request_id) == (
        1,
        request.pk,
    )
    assert rows[version.version].stage == "production"
    assert f'data-testid="version-row" data-version="{version.version}"' in html
    assert 'data-testid="stage" class="stage-production">production</td>' in html
    assert f'href="/review/requests/{request.pk}/">request #{request.pk}</a>' in html
    history = response.context["page"].history
    assert [(c.model_version_id, c.to_stage) for c in history] == [(version.pk, "production")]
    assert 'data-testid="stage-history"' in html and 'data-testid="stage-at-form"' in html


def populate_model(model: Any, n: int, by: Any, reviewer: Any) -> None:
    """n more versions, each with an unresolved finding, an open request and a stage change."""
    start = model.versions.count()
    for i in range(start + 1, start + n + 1):
        v = ModelVersionFactory(model=model, version=i, created_by=by)
        raise_finding(v, reviewer, by, severity="low")
        PromotionRequest.objects.create(
            model=model,
            model_version=v,
            target_stage="staging",
            from_stage="none",
            justification=JUSTIFY,
            artifact_sha256=v.artifact_sha256,
            risk_tier="high",
            required_approvals={"validator": 1},
            requested_by=by,
        )
        StageChange.objects.create(
            model=model,
            model_version=v,
            from_stage="none",
            to_stage="archived",
            kind="demotion",
            reason="retired",
            changed_by=reviewer,
        )


def test_the_model_page_issues_the_same_queries_for_3_or_60_versions(
    client: Any,
    django_assert_max_num_queries: Any,
    data_scientist: Any,
    validator: Any,
    team: Any,
) -> None:
    model = RegisteredModelFactory(owner_team=team, risk_tier="high")
    url = f"{model_url(model)}?at=2030-01-01&stage=archived"
    client.force_login(data_scientist)
    populate_model(model, 3, data_scientist, validator)
    with django_assert_max_num_queries(20) as small:
        response = client.get(url)
    assert len(response.context["page"].versions) == 3
    assert len(response.context["page"].stage_at.changes) == 3
    populate_model(model, 57, data_scientist, validator)
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        response = client.get(url)
    built = response.context["page"]
    assert (len(built.versions), built.version_count) == (50, 60)
    assert all(v.unresolved_findings == 1 and v.active_request_id for v in built.versions)
    assert len(built.history) == 20 and built.history_page.paginator.count == 60
    assert len(built.stage_at.changes) == 60
    assert "50 versions a page" in response.content.decode()
    assert len(large.captured_queries) == len(small.captured_queries)
    older = client.get(f"{model_url(model)}?versions_page=2").context["page"].versions
    assert [v.version for v in older] == list(range(10, 0, -1))


def test_which_version_was_in_production_on_a_date(
    client: Any, policy: Any, data_scientist: Any, validator: Any, team: Any
) -> None:
    first = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(first)
    second = g.governed_version(registrant=data_scientist, team=team, model=first.model)
    g.full_evidence(second)
    march = timezone.get_current_timezone()
    with mock.patch(
        "django.utils.timezone.now", return_value=datetime(2026, 3, 2, 10, tzinfo=march)
    ):
        first_request = promote(first, data_scientist, validator)
    with mock.patch(
        "django.utils.timezone.now", return_value=datetime(2026, 3, 10, 9, tzinfo=march)
    ):
        promote(second, data_scientist, validator)
    client.force_login(validator)
    url = model_url(first.model)

    def answer(**params: str) -> Any:
        response = client.get(url, params)
        assert response.status_code == 200
        return response.context["page"].stage_at, response.content.decode()

    stage_at, html = answer(at="2026-03-05")
    assert stage_at.versions == (first.version,)
    assert stage_at.changes[0].promotion_request_id == first_request.pk
    result = html[html.index('data-testid="stage-at-result"') :]
    assert f"<strong>v{first.version}</strong>" in result[: result.index("</div>")]
    assert answer(at="2026-03-10")[0].versions == (second.version,)  # by the end of the day
    assert answer(at="2026-03-10T08:00")[0].versions == (first.version,)
    assert answer(at="2026-03-01")[0].versions == ()
    assert "No version of" in answer(at="2026-03-01")[1]
    assert answer(at="2026-03-11", stage="archived")[0].versions == (first.version,)
    history = client.get(url).context["page"].history
    assert [(c.model_version_id, c.to_stage) for c in history] == [
        (second.pk, "production"),
        (first.pk, "archived"),
        (first.pk, "production"),
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"at": "2026-02-31"}, "is not a real date"),
        ({"at": "last tuesday"}, "is not a date: use YYYY-MM-DD"),
        ({"at": ""}, "Give a date"),
        ({"at": "2026-03-01", "stage": "limbo"}, "limbo is not one of the available choices"),
        ({"at": "0001-01-01T00:00+05:00"}, "outside the dates ModelGate can compare"),
        ({"at": "9999-12-31T23:59-05:00"}, "outside the dates ModelGate can compare"),
    ],
)
def test_a_bad_stage_at_question_gets_a_clear_message(
    client: Any, version: Any, validator: Any, params: dict[str, str], message: str
) -> None:
    client.force_login(validator)
    response = client.get(model_url(version.model), params)
    assert response.status_code == 200
    assert response.context["page"].stage_at.error
    assert message in response.content.decode().replace("&#x27;", "'")


# --- the version page ------------------------------------------------------------------------


def test_the_version_page_shows_facts_lineage_assessments_and_no_dossier_yet(
    client: Any, version: Any, data_scientist: Any, validator: Any, team: Any
) -> None:
    child = g.governed_version(
        registrant=data_scientist, team=team, model=version.model, parent=version
    )
    LineageEdge.objects.create(
        kind=EdgeKind.DERIVED_FROM,
        subject_model_version=child,
        object_model_version=version,
        created_by=data_scientist,
    )
    performance = Assessment.objects.get(model_version=version, kind="performance")
    for extension in ("png", "svg"):
        AssessmentChart.objects.create(
            assessment=performance,
            name="performance",
            title="Performance metrics",
            format=extension,
            file_key=f"charts/x.{extension}",
            sha256="0" * 64,
            size=1,
        )
    client.force_login(validator)
    response = client.get(version_url(version))
    html = response.content.decode()
    built = response.context["page"]
    assert '<span class="badge neutral stage-none" data-testid="version-stage">none</span>' in html
    assert version.artifact_sha256 in html
    datasets = {link.kind: link.dataset_version for link in built.lineage.datasets}
    assert set(datasets) == {"trained on", "evaluated on"}
    assert datasets["evaluated on"].sha256 in html
    assert [link.version for link in built.lineage.children] == [child]
    assert version.code_commit in html
    kinds = {row.assessment.kind: row for row in built.assessments}
    assert set(kinds) == {"performance", "fairness", "explainability"}
    figures = {f.label: f.value for f in kinds["performance"].figures}
    assert figures["ROC AUC"] == 0.9
    assert {f.label for f in kinds["fairness"].figures} >= {
        "demographic parity difference (sex)",
        "equalized odds difference (race)",
    }
    chart = reverse("web:assessment-chart", args=[performance.pk, "performance", "svg"])
    assert f'<img src="{chart}" alt="Performance metrics (chart of performance' in html
    assert built.dossier_url is None
    assert 'data-testid="dossier">No dossier yet' in html
    assert 'data-testid="findings"' in html and 'data-testid="lineage"' in html
    # A validator assesses but does not request promotion.
    assert 'data-testid="promotion-request-form"' not in html
    assert html.count('data-testid="assess-form"') == 3
    child_html = client.get(version_url(child)).content.decode()
    assert f'href="{version_url(version)}">{version}</a>' in child_html


def test_a_running_assessment_shows_its_progress(client: Any, version: Any, validator: Any) -> None:
    dataset = version.upstream_edges.get(kind="evaluated_on").object_dataset_version
    queued = Assessment.objects.create(
        kind="fairness",
        model_version=version,
        dataset_version=dataset,
        sensitive_features=list(g.SENSITIVE),
        request_key="running-fairness",
        artifact_sha256=version.artifact_sha256,
        dataset_sha256=dataset.sha256,
        status="running",
        progress=40,
        stage="computing disparities",
        requested_by=validator,
    )
    client.force_login(validator)
    html = client.get(version_url(version)).content.decode()
    assert (
        f'<progress id="assessment-{queued.pk}-bar" data-testid="assessment-progress" max="100" '
        f'value="40">' in html
    )
    assert f'hx-get="/assessments/{queued.pk}/progress/" hx-trigger="every 1s"' in html


def test_a_data_scientist_requests_promotion_from_the_version_page(
    client: Any, version: Any, data_scientist: Any
) -> None:
    client.force_login(data_scientist)
    html = client.get(version_url(version)).content.decode()
    assert 'data-testid="promotion-request-form"' in html
    assert '<textarea name="justification" id="id_justification"' in html
    response = client.post(
        reverse("web:version-request", args=[version.model.name, version.version]),
        {"target_stage": "production", "justification": JUSTIFY},
    )
    request = PromotionRequest.objects.get(model_version=version)
    assert (request.status, request.target_stage, request.requested_by) == (
        "open",
        "production",
        data_scientist,
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:request", args=[request.pk])
    # The form gives way to a link to the request now open.
    html = client.get(version_url(version)).content.decode()
    assert 'data-testid="promotion-request-form"' not in html
    assert f'href="/review/requests/{request.pk}/">request #{request.pk}</a>' in html


def test_a_request_without_justification_is_refused_with_the_reason_and_nothing_written(
    client: Any, version: Any, data_scientist: Any
) -> None:
    client.force_login(data_scientist)
    response = client.post(
        reverse("web:version-request", args=[version.model.name, version.version]),
        {"target_stage": "production", "justification": "  "},
    )
    assert response.status_code == 400
    assert b"a justification is required" in response.content
    assert not PromotionRequest.objects.exists()


def test_a_data_scientist_of_another_team_is_refused_and_the_refusal_audited(
    client: Any, version: Any, other_data_scientist: Any
) -> None:
    client.force_login(other_data_scientist)
    response = client.post(
        reverse("web:version-request", args=[version.model.name, version.version]),
        {"target_stage": "production", "justification": JUSTIFY},
    )
    assert response.status_code == 403
    assert b"only data scientists of team" in response.content
    assert not PromotionRequest.objects.exists()
    event = AuditEvent.objects.get(action="promotion.request_refused")
    assert (event.actor_username, event.target_id) == ("omar", str(version.pk))


def test_the_version_page_queues_an_assessment_on_the_declared_evaluation_dataset(
    client: Any,
    data_scientist: Any,
    team: Any,
    validator: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    columns = ("age", "sex", "race", "income")
    evaluation = DatasetVersionFactory(
        schema=[{"name": c, "dtype": "string", "nullable": False} for c in columns],
        target_column="income",
        sensitive_features=list(g.SENSITIVE),
        created_by=data_scientist,
    )
    version = g.governed_version(
        registrant=data_scientist, team=team, evaluation_dataset=evaluation, feature_names=["age"]
    )
    client.force_login(validator)
    url = reverse("web:version-assess", args=[version.model.name, version.version])
    with (
        mock.patch("governance.jobs.dispatch.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(url, {"kind": "fairness"})
    queued = Assessment.objects.filter(model_version=version, status="queued").get()
    enqueue.assert_called_once_with(queued.pk)
    assert (queued.kind, queued.dataset_version, queued.sensitive_features) == (
        "fairness",
        evaluation,
        list(g.SENSITIVE),
    )
    assert response.status_code == 302
    assert response["Location"] == f"{version_url(version)}#assessment-{queued.pk}"
    bad = client.post(url, {"kind": "astrology"})
    assert bad.status_code == 400


def test_an_auditor_cannot_queue_an_assessment(client: Any, version: Any, auditor: Any) -> None:
    client.force_login(auditor)
    response = client.post(
        reverse("web:version-assess", args=[version.model.name, version.version]),
        {"kind": "performance"},
    )
    assert response.status_code == 403
    assert not Assessment.objects.filter(status="queued").exists()


def test_the_catalogue_issues_the_same_queries_for_3_or_30_models(
    client: Any,
    django_assert_max_num_queries: Any,
    data_scientist: Any,
    validator: Any,
    team: Any,
) -> None:
    def populate(n: int) -> None:
        for _ in range(n):
            model = RegisteredModelFactory(owner_team=team, risk_tier="high")
            populate_model(model, 2, data_scientist, validator)

    client.force_login(data_scientist)
    populate(3)
    with django_assert_max_num_queries(15) as small:
        response = client.get(CATALOGUE, {"open_findings": "on", "blocked": "", "q": "model"})
    assert len(response.context["page"].rows) == 3
    populate(27)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(CATALOGUE, {"open_findings": "on", "blocked": "", "q": "model"})
    rows = response.context["page"].rows
    assert len(rows) == 25 and response.context["page"].total == 30
    assert all(
        (m.latest_version, m.open_requests, m.unresolved_findings) == (2, 2, 2) for m in rows
    )


def test_lineage_links_to_another_teams_model_do_not_name_it_for_a_data_scientist(
    client: Any, version: Any, data_scientist: Any, validator: Any
) -> None:
    other_team = TeamFactory(name="fraud")
    builder = UserFactory(username="fred", roles=[roles.DATA_SCIENTIST])
    other_team.members.add(builder)
    secret = g.governed_version(
        registrant=builder,
        team=other_team,
        model=RegisteredModelFactory(name="secret-fraud-model", owner_team=other_team),
    )
    LineageEdge.objects.create(
        kind=EdgeKind.DERIVED_FROM,
        subject_model_version=secret,
        object_model_version=version,
        created_by=builder,
    )
    url = reverse("web:version", args=[version.model.name, version.version])

    client.force_login(data_scientist)
    html = client.get(url).content.decode()
    assert "secret-fraud-model" not in html
    assert "a version of another team's model" in html

    client.force_login(validator)  # sees every model, and so the link
    assert "secret-fraud-model:1" in client.get(url).content.decode()


def test_the_version_page_issues_the_same_queries_whatever_its_history(
    client: Any,
    django_assert_max_num_queries: Any,
    version: Any,
    data_scientist: Any,
    validator: Any,
    team: Any,
) -> None:
    def add_history() -> None:
        g.full_evidence(version)
        raise_finding(version, validator, data_scientist, severity="low")
        child = g.governed_version(
            registrant=data_scientist, team=team, model=version.model, parent=version
        )
        LineageEdge.objects.create(
            kind=EdgeKind.DERIVED_FROM,
            subject_model_version=child,
            object_model_version=version,
            created_by=data_scientist,
        )

    url = reverse("web:version", args=[version.model.name, version.version])
    promotions.open_request(
        by=data_scientist, version=version, target_stage="staging", justification=JUSTIFY
    )
    add_history()
    client.force_login(validator)
    with django_assert_max_num_queries(20) as small:
        assert client.get(url).status_code == 200
    for _ in range(4):  # more assessments, findings and children: the same queries
        add_history()
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        response = client.get(url)
    built = response.context["page"]
    assert len(built.assessments) == 18 and len(built.lineage.children) == 5
    assert len(built.findings.rows) == 5
    assert len(large.captured_queries) == len(small.captured_queries)

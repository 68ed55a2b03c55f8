"""Concurrent reviews and promotions on PostgreSQL with real threads.

Each scenario runs through the REST API (one APIClient per thread: refusals must be 4xx, never
5xx) and through the service (refusals must be the service's Conflict/Forbidden, never another
exception). Threads start together at a barrier and close their database connections.
Where one interleaving matters (a staleness sweep meeting a review that holds its request row),
a test fixes it by pausing one transaction at an audit event: a wrapper around
`audit.trail.record` that waits, then records as usual.
"""

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit import trail
from audit.models import AuditEvent
from core import roles
from core.errors import Conflict, Forbidden
from governance.models import PromotionRequest, Review, StageChange
from governance.services import policies, promotions
from registry.models import ModelVersion
from registry.services.models import update_model
from tests.conftest import requires_postgres
from tests.factories import UserFactory
from tests.governance import gate_setup as g
from tests.governance.test_promotions import JUSTIFY, ready_version, reassess

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

INTERFACES = ("api", "service")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    code: str  # the refusal's code ("" when it went through)
    status: int  # HTTP status, or 201/403/409 mapped from the service's outcome


def review_call(interface: str, user: Any, request_id: int, decision: str) -> Outcome:
    comment = f"{decision} by {user.username}"
    if interface == "api":
        client = APIClient()
        client.force_authenticate(user)
        response = client.post(
            f"/api/v1/promotion-requests/{request_id}/reviews/",
            {"decision": decision, "comment": comment},
            format="json",
        )
        body = response.json()
        assert response.status_code < 500, body
        ok = response.status_code == 201
        return Outcome(ok, "" if ok else body["code"], response.status_code)
    request = PromotionRequest.objects.get(pk=request_id)
    try:
        promotions.review(by=user, request=request, decision=decision, comment=comment)
    except (Conflict, Forbidden) as exc:
        return Outcome(False, exc.code, 409 if isinstance(exc, Conflict) else 403)
    return Outcome(True, "", 201)


def race(calls: list[Callable[[], Outcome]]) -> tuple[list[Outcome | None], list[BaseException]]:
    """Run every call in its own thread, all released together; collect outcomes and any
    unexpected exception (a 5xx, or anything but the service's clean refusals)."""
    outcomes: list[Outcome | None] = [None] * len(calls)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(calls))

    def worker(index: int, call: Callable[[], Outcome]) -> None:
        try:
            barrier.wait()
            outcomes[index] = call()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return outcomes, errors


def validators(count: int, prefix: str = "val") -> list[Any]:
    return [UserFactory(username=f"{prefix}{i:02d}", roles=[roles.VALIDATOR]) for i in range(count)]


def chain_ok() -> None:
    result = trail.verify_chain()
    assert result.valid, result.reason


@pytest.mark.parametrize("interface", INTERFACES)
def test_fifty_reviewers_racing_for_three_approvals(
    interface, risk_officer, data_scientist, team, capsys
):
    g.simple_policy(risk_officer, roles={"validator": 3})
    version = ready_version(data_scientist, team)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )
    assert request.required_approvals == {"validator": 3}
    reviewers = validators(50)

    started = time.perf_counter()
    outcomes, errors = race(
        [lambda u=u: review_call(interface, u, request.pk, "approve") for u in reviewers]
    )
    elapsed = time.perf_counter() - started
    assert errors == []
    accepted = [o for o in outcomes if o.ok]
    refused = [o for o in outcomes if not o.ok]
    assert len(accepted) == 3
    assert len(refused) == 47
    assert all(400 <= o.status < 500 for o in refused)
    codes = Counter(o.code for o in refused)
    # After the third approval the request is completed: every later reviewer is told so.
    assert set(codes) == {"request_not_open"}, codes

    request.refresh_from_db()
    version.refresh_from_db()
    assert request.status == "completed"
    assert version.stage == "production"
    reviews = Review.objects.filter(request=request)
    assert reviews.count() == 3
    assert set(reviews.values_list("role", flat=True)) == {"validator"}
    assert StageChange.objects.filter(model_version=version).count() == 1
    assert StageChange.objects.get(model_version=version).kind == "promotion"
    assert AuditEvent.objects.filter(action="promotion.completed").count() == 1
    assert AuditEvent.objects.filter(action="promotion.reviewed").count() == 3
    assert AuditEvent.objects.filter(action="promotion.refused").count() == 47
    chain_ok()
    with capsys.disabled():
        print(
            f"\n[{interface}] 50 reviewers, 3 approvals needed: {len(accepted)} accepted, "
            f"{len(refused)} refused {dict(codes)} (HTTP {sorted({o.status for o in refused})}), "
            f"{elapsed:.2f} s"
        )


@pytest.mark.parametrize("interface", INTERFACES)
def test_twenty_concurrent_promotions_of_one_model_leave_one_production_version(
    interface, risk_officer, data_scientist, team, capsys
):
    g.simple_policy(risk_officer, roles={"validator": 1})
    first = ready_version(data_scientist, team)
    versions = [first] + [ready_version(data_scientist, team, model=first.model) for _ in range(19)]
    requests = [
        promotions.open_request(
            by=data_scientist, version=v, target_stage="production", justification=JUSTIFY
        )
        for v in versions
    ]
    reviewers = validators(20)

    started = time.perf_counter()
    outcomes, errors = race(
        [
            lambda u=u, r=r: review_call(interface, u, r.pk, "approve")
            for u, r in zip(reviewers, requests, strict=True)
        ]
    )
    elapsed = time.perf_counter() - started
    assert errors == []
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]

    stages = Counter(ModelVersion.objects.filter(model=first.model).values_list("stage", flat=True))
    assert stages == {"production": 1, "archived": 19}
    assert set(PromotionRequest.objects.values_list("status", flat=True)) == {"completed"}

    # The history is one chain: each promotion after the first is preceded, in the same
    # request, by the row that archived the version then in production.
    rows = list(StageChange.objects.filter(model=first.model).order_by("id"))
    assert Counter(r.kind for r in rows) == {"promotion": 20, "replaced": 19}
    in_production = None
    last_replaced = None
    for row in rows:
        if row.kind == "replaced":
            assert (row.from_stage, row.to_stage) == ("production", "archived")
            assert row.model_version_id == in_production
            in_production, last_replaced = None, row
        else:
            assert (row.from_stage, row.to_stage) == ("none", "production")
            assert in_production is None
            if last_replaced is not None:
                assert last_replaced.promotion_request_id == row.promotion_request_id
                assert last_replaced.evaluation_id == row.evaluation_id
            assert row.evaluation.passed
            assert row.evaluation.artifact_sha256 == row.model_version.artifact_sha256
            in_production = row.model_version_id
    final = ModelVersion.objects.get(model=first.model, stage="production")
    assert final.pk == in_production
    # Each promotion after the first was evaluated against the version it replaced.
    promoted = [r for r in rows if r.kind == "promotion"]
    for before, after in itertools.pairwise(promoted):
        assert after.evaluation.baseline_version_id == before.model_version_id
    chain_ok()
    with capsys.disabled():
        print(
            f"\n[{interface}] 20 concurrent promotions of one model: {stages['production']} in "
            f"production, {stages['archived']} archived, {len(rows)} stage changes, "
            f"{elapsed:.2f} s"
        )


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_promotion_racing_a_rejection_ends_in_one_consistent_state(
    interface, risk_officer, data_scientist, validator, team, capsys
):
    g.simple_policy(risk_officer, roles={"validator": 1, "risk officer": 1})
    model = None
    winners: Counter[str] = Counter()
    rejecters = validators(10, prefix="rej")
    for round_number, rejecter in enumerate(rejecters):
        version = ready_version(data_scientist, team, model=model)
        model = version.model
        previous = ModelVersion.objects.filter(model=model, stage="production").first()
        request = promotions.open_request(
            by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
        )
        promotions.review(by=validator, request=request, decision="approve", comment="first")

        (approval, rejection), errors = race(
            [
                lambda r=request: review_call(interface, risk_officer, r.pk, "approve"),
                lambda r=request, u=rejecter: review_call(interface, u, r.pk, "reject"),
            ]
        )
        assert errors == []
        request.refresh_from_db()
        version.refresh_from_db()
        assert approval.ok != rejection.ok, (round_number, approval, rejection)
        loser = rejection if approval.ok else approval
        assert (loser.status, loser.code) == (409, "request_not_open")
        if approval.ok:
            winners["completed"] += 1
            assert request.status == "completed"
            assert version.stage == "production"
            change = StageChange.objects.get(model_version=version)
            assert change.promotion_request_id == request.pk
            if previous is not None:
                previous.refresh_from_db()
                assert previous.stage == "archived"
            assert not Review.objects.filter(request=request, decision="reject").exists()
        else:
            winners["rejected"] += 1
            assert request.status == "rejected"
            assert version.stage == "none"
            assert not StageChange.objects.filter(model_version=version).exists()
            if previous is not None:
                previous.refresh_from_db()
                assert previous.stage == "production"
            assert not Review.objects.filter(request=request, reviewer=risk_officer).exists()
        assert Review.objects.filter(request=request).count() == 2
        assert ModelVersion.objects.filter(model=model, stage="production").count() <= 1
    assert sum(winners.values()) == 10
    chain_ok()
    with capsys.disabled():
        print(f"\n[{interface}] promotion vs rejection, 10 rounds: {dict(winners)}")


# --- staleness sweeps racing reviews -----------------------------------------------------------
#
# Saving a policy and finishing an assessment record their audit event (taking the chain's lock
# until commit) and then sweep the active requests; a review locks its request row and then
# appends to the chain. The sweep must not wait for that row (a deadlock, which PostgreSQL breaks
# by failing one of the two), and the request must still end stale.


def policy_document(*, roles: dict[str, int], auc: float = 0.8) -> dict[str, Any]:
    """A new version of gate_setup.simple_policy's "test-policy"."""
    return {
        "name": "test-policy",
        "scope": {
            "risk_tiers": ["minimal", "limited", "high"],
            "target_stages": ["staging", "production"],
        },
        "checks": [
            {"id": "safe", "type": "artifact_safety"},
            {"id": "auc", "type": "metric_threshold", "metric": "roc_auc", "min": auc},
            {"id": "approvals", "type": "approvals", "roles": roles},
        ],
    }


def policy_call(by: Any, document: dict[str, Any]) -> Outcome:
    policies.save_policy(by=by, source=document)
    return Outcome(True, "", 201)


def reassess_call(version: ModelVersion, by: Any) -> Outcome:
    reassess(version, g.performance_results(roc_auc=0.91), by=by)
    return Outcome(True, "", 201)


def pause_review_until(monkeypatch: Any, signal_action: str) -> threading.Event:
    """Hold a reviewing transaction after it locked its request row and before its first audit
    event until another transaction has recorded `signal_action` (and a little longer, for that
    one to reach its staleness sweep): the interleaving that deadlocked. Returns the event set
    once the review holds its row: start the other transaction after it."""
    holding = threading.Event()
    recorded = threading.Event()
    record = trail.record

    def pausing_record(target: Any, action: str, **kwargs: Any) -> Any:
        if action == "promotion.reviewed":
            holding.set()
            assert recorded.wait(30)
            time.sleep(0.3)
        event = record(target, action, **kwargs)
        if action == signal_action:
            recorded.set()
        return event

    monkeypatch.setattr(trail, "record", pausing_record)
    return holding


def after(event: threading.Event, call: Callable[[], Outcome]) -> Callable[[], Outcome]:
    def waiting() -> Outcome:
        assert event.wait(30)
        return call()

    return waiting


def test_a_policy_saved_while_a_review_holds_the_request_still_makes_it_stale(
    risk_officer, data_scientist, validator, team, monkeypatch
):
    g.simple_policy(risk_officer, roles={"validator": 1, "risk officer": 1})
    version = ready_version(data_scientist, team)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )
    holding = pause_review_until(monkeypatch, "policy.version_created")
    (review, saved), errors = race(
        [
            lambda: review_call("service", validator, request.pk, "approve"),
            after(
                holding, lambda: policy_call(risk_officer, policy_document(roles={"validator": 2}))
            ),
        ]
    )
    assert errors == [], errors
    assert review.ok and saved.ok  # the review had locked the row first: it went through
    request.refresh_from_db()
    assert request.status == "stale"
    assert "the applicable policies changed" in request.status_reason
    assert Review.objects.filter(request=request).count() == 1
    order = list(
        AuditEvent.objects.filter(
            action__in=("policy.version_created", "promotion.reviewed", "promotion.stale")
        )
        .order_by("id")
        .values_list("action", flat=True)
    )
    # The stale mark came once both had committed.
    assert order[-3:] == ["policy.version_created", "promotion.reviewed", "promotion.stale"]
    chain_ok()


def test_new_evidence_while_an_approval_holds_the_request_still_makes_it_stale(
    risk_officer, data_scientist, validator, team, monkeypatch
):
    g.simple_policy(risk_officer, roles={"validator": 1, "risk officer": 1})
    version = ready_version(data_scientist, team)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="production", justification=JUSTIFY
    )
    holding = pause_review_until(monkeypatch, "assessment.succeeded")
    (review, assessed), errors = race(
        [
            lambda: review_call("service", validator, request.pk, "approve"),
            after(holding, lambda: reassess_call(version, data_scientist)),
        ]
    )
    assert errors == [], errors
    assert review.ok and assessed.ok
    request.refresh_from_db()
    assert request.status == "stale"
    assert request.status_reason.startswith("new evidence: performance assessment #")
    chain_ok()


@pytest.mark.parametrize("interface", INTERFACES)
def test_policy_changes_racing_reviews_leave_every_request_stale(
    interface, risk_officer, data_scientist, validator, team, capsys
):
    g.simple_policy(risk_officer, roles={"validator": 1, "risk officer": 1})
    model = None
    outcomes: Counter[str] = Counter()
    for round_number in range(10):
        version = ready_version(data_scientist, team, model=model)
        model = version.model
        request = promotions.open_request(
            by=data_scientist, version=version, target_stage="staging", justification=JUSTIFY
        )
        document = policy_document(
            roles={"validator": 1, "risk officer": 1}, auc=0.5 + round_number / 100
        )
        (review, saved), errors = race(
            [
                lambda r=request: review_call(interface, validator, r.pk, "approve"),
                lambda d=document: policy_call(risk_officer, d),
            ]
        )
        assert errors == [], errors
        assert saved.ok
        request.refresh_from_db()
        assert request.status == "stale", (round_number, review)
        if not review.ok:
            # Stale before the review locked the request, or found stale by the review itself
            # (the policy committed while the sweep skipped the row the review held).
            assert review.status == 409 and review.code in ("request_not_open", "request_stale")
        outcomes["reviewed, then stale" if review.ok else f"review refused: {review.code}"] += 1
    chain_ok()
    with capsys.disabled():
        print(f"\n[{interface}] policy change vs review, 10 rounds: {dict(outcomes)}")


@pytest.mark.parametrize("interface", INTERFACES)
def test_new_evidence_racing_the_last_approval_ends_consistent(
    interface, risk_officer, data_scientist, validator, team, capsys
):
    g.simple_policy(risk_officer, roles={"validator": 1, "risk officer": 1})
    model = None
    outcomes: Counter[str] = Counter()
    for _ in range(10):
        version = ready_version(data_scientist, team, model=model)
        model = version.model
        request = promotions.open_request(
            by=data_scientist, version=version, target_stage="staging", justification=JUSTIFY
        )
        promotions.review(by=validator, request=request, decision="approve", comment="first")
        (review, assessed), errors = race(
            [
                lambda r=request: review_call(interface, risk_officer, r.pk, "approve"),
                lambda v=version: reassess_call(v, data_scientist),
            ]
        )
        assert errors == [], errors
        assert assessed.ok
        request.refresh_from_db()
        version.refresh_from_db()
        if review.ok:  # promoted on the evidence it saw; the new one came after
            assert request.status == "completed" and version.stage == "staging"
        else:
            assert request.status == "stale" and version.stage == "none"
            assert (review.status, review.code) == (409, "request_not_open")
        outcomes[request.status] += 1
    chain_ok()
    with capsys.disabled():
        print(f"\n[{interface}] new evidence vs last approval, 10 rounds: {dict(outcomes)}")


def test_a_model_card_edit_during_the_last_approval_waits_its_turn(
    risk_officer, data_scientist, validator, team, monkeypatch
):
    """The card edit starts while the approving transaction holds its request and has recorded
    its approval; it waits, and both land."""
    g.simple_policy(risk_officer, roles={"validator": 1, "risk officer": 1})
    version = ready_version(data_scientist, team)
    request = promotions.open_request(
        by=data_scientist, version=version, target_stage="staging", justification=JUSTIFY
    )
    promotions.review(by=validator, request=request, decision="approve", comment="first")
    approved = threading.Event()
    record = trail.record

    def pausing_record(target: Any, action: str, **kwargs: Any) -> Any:
        event = record(target, action, **kwargs)
        if action == "promotion.approved":
            approved.set()
            time.sleep(0.5)
        return event

    monkeypatch.setattr(trail, "record", pausing_record)

    def edit() -> Outcome:
        assert approved.wait(30)
        update_model(version.model, by=data_scientist, description="Edited meanwhile")
        return Outcome(True, "", 200)

    (review, edited), errors = race(
        [lambda: review_call("service", risk_officer, request.pk, "approve"), edit]
    )
    assert errors == [], errors
    assert review.ok and edited.ok
    request.refresh_from_db()
    version.refresh_from_db()
    version.model.refresh_from_db()
    assert request.status == "completed" and version.stage == "staging"
    assert version.model.description == "Edited meanwhile"
    chain_ok()

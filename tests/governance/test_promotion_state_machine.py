"""A Hypothesis state machine over the promotion service.

Random sequences of requests, reviews (by eligible and ineligible people, the requester
included), withdrawals, promote retries, policy changes, risk-tier changes, re-assessments
(through the job's success path), demotions and rollbacks. Refusals (ModelGateError) are
expected; any other exception fails. After every step:

- at most one production version per model;
- every production version got there through a completed request whose promotion-purpose
  evaluation passed on its current artifact digest (linked from the stage-change row);
- every version's stage is the to_stage of its latest stage-change row ("none" without rows);
- reviews respect separation of duties and the pinned role counts; each completed request has
  exactly one promoting stage change; an approved request shows what blocks it; no active
  request is silently stale (what it was opened on still holds);
- the audit chain verifies.

Each example runs inside a savepoint rolled back in teardown, so policies and requests from one
example never leak into the next.
"""

from collections import Counter
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count, Q
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from audit import trail
from core import roles
from core.errors import ModelGateError
from governance.models import ACTIVE_REQUEST, PromotionRequest, StageChange
from governance.services import policies, promotions, staleness
from registry.models import ModelVersion
from registry.services.models import update_model
from tests.factories import UserFactory
from tests.governance import gate_setup as g
from tests.governance.test_promotions import reassess

THRESHOLDS = (0.80, 0.88)
AUC_VALUES = (0.90, 0.85, 0.70)  # passes both thresholds / passes 0.80 only / fails both
ROLE_SETS = ({"validator": 1}, {"validator": 1, "risk officer": 1})
TIER_SETS = (["high", "limited"], ["high"])
REVIEWERS = ("dana", "dora", "vera", "val2", "rita", "rio", "bea", "aldo")
ACTORS = ("dana", "dora", "vera", "rita", "aldo")


def policy_document(threshold: float, role_set: int, tier_set: int) -> dict[str, Any]:
    return {
        "name": "sm-policy",
        "scope": {"risk_tiers": TIER_SETS[tier_set], "target_stages": ["staging", "production"]},
        "checks": [
            {"id": "safe", "type": "artifact_safety"},
            {"id": "auc", "type": "metric_threshold", "metric": "roc_auc", "min": threshold},
            {"id": "approvals", "type": "approvals", "roles": ROLE_SETS[role_set]},
        ],
    }


PRODUCTION_POLICY = {
    "name": "sm-no-regression",
    "scope": {"risk_tiers": ["high", "limited"], "target_stages": ["production"]},
    "checks": [
        {"id": "no-worse", "type": "metric_threshold", "metric": "roc_auc", "max_regression": 0.02}
    ],
}


class PromotionMachine(RuleBasedStateMachine):
    cast: dict[str, Any] = {}
    team: Any = None
    # What the steps did, over every example (printed by the test: a run that only ever got
    # refusals would prove little).
    outcomes: Counter[str] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        people = self.cast
        policies.save_policy(by=people["rita"], source=policy_document(THRESHOLDS[0], 0, 0))
        policies.save_policy(by=people["rita"], source=PRODUCTION_POLICY)
        self.models: list[Any] = []
        self.versions: list[list[ModelVersion]] = []
        for _ in range(2):
            model = None
            versions = []
            # Version n starts with AUC_VALUES[n]: the first passes everything, the second
            # fails the stricter threshold and regresses against the first in production, the
            # third fails every threshold (its requests end approved but blocked).
            for auc in AUC_VALUES:
                version = g.governed_version(registrant=people["dana"], team=self.team, model=model)
                g.full_evidence(version, performance=g.performance_results(roc_auc=auc))
                model = version.model
                versions.append(version)
            self.models.append(model)
            self.versions.append(versions)
        self.requests: list[int] = []
        self.step = 0
        self.last_disruption = -10

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ---------------------------------------------------------------------------

    def _attempt(self, name: str, action: Any) -> Any:
        self.step += 1
        try:
            result = action()
        except ModelGateError as exc:
            self.outcomes[f"{name}: refused {exc.code}"] += 1
            return None
        status = getattr(result, "status", None)
        self.outcomes[f"{name}: done" + (f" -> {status}" if status else "")] += 1
        return result

    def _pick_request(self, index: int, statuses: tuple[str, ...] | None) -> PromotionRequest:
        """One of this example's requests; with `statuses`, among those in them if any."""
        chosen = self.requests
        if statuses is not None:
            chosen = (
                list(
                    PromotionRequest.objects.filter(pk__in=self.requests, status__in=statuses)
                    .order_by("id")
                    .values_list("pk", flat=True)
                )
                or self.requests
            )
        return PromotionRequest.objects.select_related("model_version").get(
            pk=chosen[index % len(chosen)]
        )

    def _version(self, model: int, number: int) -> ModelVersion:
        return ModelVersion.objects.select_related("model").get(pk=self.versions[model][number].pk)

    def _active(self) -> bool:
        return PromotionRequest.objects.filter(
            pk__in=self.requests, status__in=ACTIVE_REQUEST
        ).exists()

    # Policy, tier and evidence changes make requests stale: left to chance they would leave
    # few requests alive long enough to be decided, so each waits a few steps after the last.
    def _calm(self) -> bool:
        return self.step - self.last_disruption >= 4

    # --- rules -----------------------------------------------------------------------------

    @rule(
        model=st.integers(0, 1),
        number=st.integers(0, 2),
        stage=st.sampled_from(["staging", "production", "production"]),
        requester=st.sampled_from(["dana", "dana", "dora", "vera"]),
    )
    def request(self, model: int, number: int, stage: str, requester: str) -> None:
        opened = self._attempt(
            "request",
            lambda: promotions.open_request(
                by=self.cast[requester],
                version=self._version(model, number),
                target_stage=stage,
                justification="state machine",
            ),
        )
        if opened is not None:
            assert opened.status == "open"
            self.requests.append(opened.pk)

    @precondition(lambda self: self.requests)
    @rule(
        index=st.integers(0, 50),
        live=st.booleans(),
        reviewer=st.sampled_from(REVIEWERS),
        decision=st.sampled_from(["approve", "approve", "reject"]),
    )
    def review(self, index: int, live: bool, reviewer: str, decision: str) -> None:
        """Anyone, eligible or not, on any request (an active one when `live`)."""
        request = self._pick_request(index, ACTIVE_REQUEST if live else None)
        user = self.cast[reviewer]
        before = request.reviews.count()
        result = self._attempt(
            "review",
            lambda: promotions.review(
                by=user, request=request, decision=decision, comment="state machine"
            ),
        )
        assert request.reviews.count() == before + (result is not None)
        if user.pk in (request.requested_by_id, request.model_version.created_by_id):
            assert result is None  # separation of duties, whatever the roles
        if reviewer == "aldo":
            assert result is None  # auditors never review

    @precondition(_active)
    @rule(index=st.integers(0, 50), pick=st.integers(0, 10))
    def approve_as_an_eligible_reviewer(self, index: int, pick: int) -> None:
        """Moves requests along: an approval by someone the service says may approve now."""
        request = self._pick_request(index, ACTIVE_REQUEST)
        eligible = [
            name
            for name in REVIEWERS
            if promotions.review_refusal(self.cast[name], request, "approve") is None
        ]
        if not eligible:
            return
        reviewed = self._attempt(
            "approve_as_an_eligible_reviewer",
            lambda: promotions.review(
                by=self.cast[eligible[pick % len(eligible)]],
                request=request,
                decision="approve",
                comment="state machine",
            ),
        )
        # Refused only if the request went stale under it (the review's own staleness check).
        if reviewed is None:
            request.refresh_from_db()
            assert request.status == "stale"

    @precondition(lambda self: self.requests)
    @rule(index=st.integers(0, 50), live=st.booleans(), actor=st.sampled_from(ACTORS))
    def withdraw(self, index: int, live: bool, actor: str) -> None:
        request = self._pick_request(index, ACTIVE_REQUEST if live else None)
        result = self._attempt(
            "withdraw",
            lambda: promotions.withdraw(by=self.cast[actor], request=request, reason="sm"),
        )
        if result is not None:
            assert result.status == "withdrawn"
            assert request.status in ACTIVE_REQUEST

    @precondition(lambda self: self.requests)
    @rule(index=st.integers(0, 50), live=st.booleans(), actor=st.sampled_from(ACTORS))
    def promote(self, index: int, live: bool, actor: str) -> None:
        """A retry of the gate, mostly on approved (blocked) requests."""
        request = self._pick_request(index, ("approved",) if live else None)
        result = self._attempt(
            "promote", lambda: promotions.promote(by=self.cast[actor], request=request)
        )
        if result is not None:
            assert request.status == "approved"
            assert result.status == "completed"

    @precondition(_calm)
    @rule(
        threshold=st.sampled_from(THRESHOLDS),
        role_set=st.integers(0, len(ROLE_SETS) - 1),
        tier_set=st.integers(0, len(TIER_SETS) - 1),
    )
    def change_policy(self, threshold: float, role_set: int, tier_set: int) -> None:
        self.last_disruption = self.step + 1
        self._attempt(
            "change_policy",
            lambda: policies.save_policy(
                by=self.cast["rita"], source=policy_document(threshold, role_set, tier_set)
            ),
        )

    @precondition(_calm)
    @rule(model=st.integers(0, 1), tier=st.sampled_from(["high", "limited"]))
    def change_risk_tier(self, model: int, tier: str) -> None:
        self.last_disruption = self.step + 1
        card = self.models[model]
        self._attempt(
            "change_risk_tier", lambda: update_model(card, by=self.cast["dana"], risk_tier=tier)
        )
        assert not PromotionRequest.objects.filter(model=card, status__in=ACTIVE_REQUEST).exclude(
            risk_tier=tier
        )

    @precondition(_calm)
    @rule(model=st.integers(0, 1), number=st.integers(0, 2), auc=st.sampled_from(AUC_VALUES))
    def reassess(self, model: int, number: int, auc: float) -> None:
        self.last_disruption = self.step + 1
        version = self._version(model, number)
        self._attempt(
            "reassess",
            lambda: reassess(version, g.performance_results(roc_auc=auc), by=self.cast["dana"]),
        )
        # An active request of this version that had an approval went stale.
        assert not PromotionRequest.objects.filter(
            model_version=version, status__in=ACTIVE_REQUEST, reviews__decision="approve"
        ).exists()

    @precondition(
        lambda self: ModelVersion.objects.filter(
            model__in=self.models, stage__in=("production", "staging")
        ).exists()
    )
    @rule(
        model=st.integers(0, 1),
        index=st.integers(0, 5),
        live=st.booleans(),
        actor=st.sampled_from(["rita", "rita", "dana"]),
    )
    def demote(self, model: int, index: int, live: bool, actor: str) -> None:
        """A risk officer (or, refused, a data scientist) demotes a live version, or any."""
        versions = ModelVersion.objects.filter(model=self.models[model]).order_by("id")
        if live:
            versions = versions.filter(stage__in=("production", "staging")) or versions
        candidates = list(versions)
        version = candidates[index % len(candidates)]
        change = self._attempt(
            "demote", lambda: promotions.demote(by=self.cast[actor], version=version, reason="sm")
        )
        if change is not None:
            assert actor == "rita"
            assert version.stage in ("production", "staging")
            assert change.to_stage == "archived"
            assert not PromotionRequest.objects.filter(
                model_version=version, status__in=ACTIVE_REQUEST
            ).exists()

    @precondition(
        lambda self: StageChange.objects.filter(
            model__in=self.models, from_stage="production"
        ).exists()
    )
    @rule(model=st.integers(0, 1))
    def rollback(self, model: int) -> None:
        opened = self._attempt(
            "rollback",
            lambda: promotions.rollback(
                by=self.cast["dana"], model=self.models[model], justification="sm rollback"
            ),
        )
        if opened is not None:
            assert opened.is_rollback and opened.target_stage == "production"
            self.requests.append(opened.pk)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def stages_follow_their_history(self) -> None:
        """One production version per model at most; each version's stage is its latest
        history row's; each production version was earned by a passing promotion gate."""
        versions = {
            v.pk: v for v in ModelVersion.objects.filter(model__in=self.models).order_by("id")
        }
        latest: dict[int, StageChange] = {}
        for change in (
            StageChange.objects.filter(model__in=self.models)
            .select_related("promotion_request", "evaluation")
            .order_by("id")
        ):
            latest[change.model_version_id] = change
        in_production = Counter(v.model_id for v in versions.values() if v.stage == "production")
        assert all(n <= 1 for n in in_production.values()), in_production
        for version in versions.values():
            change = latest.get(version.pk)
            assert version.stage == (change.to_stage if change else "none"), version
            if version.stage != "production":
                continue
            assert change.kind in ("promotion", "rollback")
            request = change.promotion_request
            assert request is not None and request.status == "completed"
            assert request.model_version_id == version.pk
            assert request.is_rollback == (change.kind == "rollback")
            evaluation = change.evaluation
            assert evaluation is not None
            assert evaluation.purpose == "promotion"
            assert evaluation.passed and evaluation.failed_count == 0
            assert evaluation.artifact_sha256 == version.artifact_sha256
            assert evaluation.model_version_id == version.pk
            assert evaluation.promotion_request_id == request.pk
            assert evaluation.target_stage == "production"

    @invariant()
    def requests_are_consistent(self) -> None:
        requests = (
            PromotionRequest.objects.filter(model__in=self.models)
            .select_related("model_version")
            .prefetch_related("reviews")
            .annotate(
                moves=Count(
                    "stage_changes", filter=Q(stage_changes__kind__in=("promotion", "rollback"))
                )
            )
        )
        for request in requests:
            reviews = list(request.reviews.all())
            reviewers = [r.reviewer_id for r in reviews]
            assert len(reviewers) == len(set(reviewers))
            assert request.requested_by_id not in reviewers
            assert request.model_version.created_by_id not in reviewers
            approvals = Counter(r.role for r in reviews if r.decision == "approve")
            assert set(r.role for r in reviews) <= set(request.required_approvals)
            assert all(approvals[role] <= n for role, n in request.required_approvals.items())
            complete = all(approvals[role] >= n for role, n in request.required_approvals.items())
            assert request.moves == (1 if request.status == "completed" else 0)
            if request.status in ("completed", "approved"):
                assert complete
            if request.status == "approved":
                assert request.blocking
            if request.status == "open":
                assert not complete
            if request.status == "rejected":
                assert any(r.decision == "reject" for r in reviews)
            if request.status in ACTIVE_REQUEST:
                # What it was opened on still holds: any change marked it stale at once.
                assert staleness.reason_for(request) is None, request

    @invariant()
    def audit_chain_verifies(self) -> None:
        result = trail.verify_chain()
        assert result.valid, result.reason


@pytest.mark.django_db
def test_promotion_state_machine(team, data_scientist, validator, risk_officer, auditor, capsys):
    cast = {
        "dana": data_scientist,
        "dora": UserFactory(username="dora", roles=[roles.DATA_SCIENTIST]),
        "vera": validator,
        "val2": UserFactory(username="val2", roles=[roles.VALIDATOR]),
        "rita": risk_officer,
        "rio": UserFactory(username="rio", roles=[roles.RISK_OFFICER]),
        "bea": UserFactory(username="bea", roles=[roles.VALIDATOR, roles.RISK_OFFICER]),
        "aldo": auditor,
    }
    team.members.add(cast["dora"])
    PromotionMachine.cast = cast
    PromotionMachine.team = team
    PromotionMachine.outcomes = Counter()
    run_state_machine_as_test(
        PromotionMachine,
        settings=settings(max_examples=25, stateful_step_count=20, deadline=None),
    )
    seen = PromotionMachine.outcomes
    with capsys.disabled():
        print("\nstate machine outcomes:", dict(sorted(seen.items())))
    # The runs reached the states that matter, not only refusals.
    assert seen["approve_as_an_eligible_reviewer: done -> completed"] > 0

"""The dossier's regulatory mapping: clause by clause, from the stored check results."""

from typing import Any

import pytest

from governance.dossier import coverage
from governance.models import EvaluationPurpose
from governance.policies.clauses import BY_KEY
from governance.services import evaluation
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db

UNFAIR = {
    "sex": {"demographic_parity_difference": 0.3, "equalized_odds_difference": 0.04},
    "race": {"demographic_parity_difference": 0.06, "equalized_odds_difference": 0.05},
}


@pytest.fixture
def pack(risk_officer: Any) -> None:
    g.install_default_pack(risk_officer)


def by_tag(frameworks: tuple[coverage.FrameworkCoverage, ...]) -> dict[str, Any]:
    return {clause.tag: clause for f in frameworks for clause in f.clauses}


def test_a_dry_run_maps_every_clause_of_the_tagged_frameworks(
    pack: Any, team: Any, data_scientist: Any, validator: Any
) -> None:
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version, fairness=g.fairness_results(UNFAIR))
    evaluation.evaluate(version, "production", by=validator)

    frameworks = coverage.of_version(version.pk)

    assert [f.key for f in frameworks] == ["eu-ai-act", "nist-ai-rmf", "iso-42001", "sr-26-2"]
    for framework in frameworks:
        assert len(framework.clauses) == len(BY_KEY[framework.key].clauses)
        evidenced = [c for c in framework.clauses if c.status == coverage.EVIDENCED]
        assert framework.evidenced == len(evidenced)
        assert framework.percent == pytest.approx(100 * len(evidenced) / len(framework.clauses))
    clauses = by_tag(frameworks)
    # Lineage passes: Article 10 is evidenced even though the fairness check tagged with it fails.
    assert clauses["eu-ai-act:art-10"].status == coverage.EVIDENCED
    assert {c.check_id for c in clauses["eu-ai-act:art-10"].checks} >= {
        "lineage",
        "fairness-demographic-parity",
    }
    # Only the failing fairness check speaks to NIST MEASURE 2.11.
    assert clauses["nist-ai-rmf:measure-2.11"].status == coverage.FAILING
    assert [c.passed for c in clauses["nist-ai-rmf:measure-2.11"].checks] == [False]
    # No shipped check speaks to harmonised standards.
    assert clauses["eu-ai-act:annex-iv-7"].status == coverage.MISSING
    assert clauses["eu-ai-act:annex-iv-7"].checks == ()


def test_the_promotion_gates_evaluation_speaks_for_the_version(
    pack: Any, team: Any, data_scientist: Any, validator: Any, risk_officer: Any
) -> None:
    version = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(version)
    request = g.approved(version, requester=data_scientist, reviewers=[validator, risk_officer])
    assert request.status == "completed"
    evaluation.evaluate(version, "production", by=validator)  # a later dry-run

    deciding = coverage.deciding_evaluation(version.pk)
    assert deciding is not None and deciding.purpose == EvaluationPurpose.PROMOTION
    clauses = by_tag(coverage.of_version(version.pk))
    # Approvals were in at the gate: human oversight is evidenced by the approvals check.
    oversight = clauses["eu-ai-act:art-14"]
    assert oversight.status == coverage.EVIDENCED
    assert {c.evaluation_id for c in oversight.checks} == {deciding.pk}


def test_a_version_never_evaluated_has_no_coverage(team: Any, data_scientist: Any) -> None:
    version = g.governed_version(registrant=data_scientist, team=team)
    assert coverage.deciding_evaluation(version.pk) is None
    assert coverage.of_version(version.pk) == ()

"""The dossier's audit events as JSON Lines: covered events in full, the rest as gap lines,
checkable with sha256 alone; every edit, reordering or removal is caught."""

import json
from typing import Any

import pytest

from audit.models import AuditEvent
from core.errors import NotFound
from governance.dossier import events
from governance.services import evaluation, findings
from tests.governance import gate_setup as g

pytestmark = pytest.mark.django_db


def raise_on(version: Any, by: Any, owner: Any, title: str) -> Any:
    return findings.raise_finding(
        by=by,
        version=version,
        title=title,
        severity="high",
        description="Found in validation.",
        owner=owner,
    )


@pytest.fixture
def story(team: Any, data_scientist: Any, validator: Any, risk_officer: Any) -> Any:
    """Events about two versions of two models, interleaved with policy events."""
    g.install_default_pack(risk_officer)
    mine = g.governed_version(registrant=data_scientist, team=team)
    other = g.governed_version(registrant=data_scientist, team=team)
    g.full_evidence(mine)
    raise_on(other, validator, data_scientist, "not about mine")
    found = raise_on(mine, validator, data_scientist, "Disparity on sex")
    evaluation.evaluate(other, "production", by=validator)
    evaluation.evaluate(mine, "production", by=validator)
    findings.answer(by=data_scientist, finding=found, remediation="Re-weighted.")
    raise_on(other, validator, data_scientist, "also not about mine")
    return mine, other


def lines_of(version: Any, as_of: AuditEvent | None = None) -> list[bytes]:
    return list(events.jsonl_lines(version, as_of or events.resolve_as_of(None)))


def test_covered_events_are_in_full_and_the_chain_links_to_the_head(story: Any) -> None:
    mine, _ = story
    head = events.resolve_as_of(None)
    lines = lines_of(mine)

    check = events.verify_lines(lines, head_hash=head.hash)

    assert check.valid, check.reason
    about_mine = list(AuditEvent.objects.filter(events.covered(mine)).order_by("id"))
    assert [e.action for e in about_mine] == [
        "finding.raised",
        "policy.evaluated",
        "finding.answered",
    ]
    full = [json.loads(line) for line in lines if b'"event":' in line]
    assert [(f["id"], f["hash"]) for f in full] == [(e.pk, e.hash) for e in about_mine]
    assert check.events == 3 and check.gaps >= 3
    assert check.last_id == head.pk and check.head_hash == head.hash
    gap_total = sum(json.loads(line)["gap"]["count"] for line in lines if b'"gap"' in line)
    assert gap_total + 3 == AuditEvent.objects.count()


def test_an_earlier_as_of_ends_the_lines_there(story: Any) -> None:
    mine, _ = story
    answered = AuditEvent.objects.get(action="finding.answered")
    lines = lines_of(mine, answered)
    assert json.loads(lines[-1])["id"] == answered.pk
    assert events.verify_lines(lines, head_hash=answered.hash).valid
    assert not events.verify_lines(lines, head_hash=events.resolve_as_of(None).hash).valid


def edit(lines: list[bytes], index: int, old: bytes, new: bytes) -> list[bytes]:
    assert old in lines[index]
    return [*lines[:index], lines[index].replace(old, new), *lines[index + 1 :]]


def test_every_edit_reordering_or_removal_is_caught(story: Any) -> None:
    mine, _ = story
    head = events.resolve_as_of(None).hash
    lines = lines_of(mine)
    raised = next(i for i, line in enumerate(lines) if b'"finding.raised"' in line)
    gap = next(i for i, line in enumerate(lines) if b'"gap"' in line)

    cases = [
        ("does not match its hash", edit(lines, raised, b"Disparity on sex", b"Disparity on age")),
        ("not in canonical form", edit(lines, raised, b'"action":', b'"action": ')),
        ("does not link", [*lines[:gap], *lines[gap + 1 :]]),  # a stretch removed
        ("link", [*lines[:raised], lines[raised + 1], lines[raised], *lines[raised + 2 :]]),
        ("not a JSON line", edit(lines, raised, b"{", b"[")),
        ("head hash", lines[:-1]),
        ("no events", []),
    ]
    for expected, tampered in cases:
        check = events.verify_lines(tampered, head_hash=head)
        assert not check.valid, expected
        assert expected in check.reason, (expected, check.reason)


def test_an_unknown_as_of_is_not_found(story: Any) -> None:
    with pytest.raises(NotFound):
        events.resolve_as_of(10**9)


def test_ids_that_skip_are_accepted_since_the_hashes_carry_the_order(story: Any) -> None:
    # On PostgreSQL a rolled-back insert burns an id; ids are not hashed, the links are.
    mine, _ = story
    spaced = []
    for line in lines_of(mine):
        parsed = json.loads(line)
        if "gap" in parsed:
            parsed["gap"]["from_id"] *= 2
            parsed["gap"]["to_id"] *= 2
            spaced.append(json.dumps(parsed, separators=(",", ":")).encode())
        else:
            spaced.append(
                line.replace(b'{"id":%d,' % parsed["id"], b'{"id":%d,' % (parsed["id"] * 2))
            )
    assert events.verify_lines(spaced, head_hash=events.resolve_as_of(None).hash).valid

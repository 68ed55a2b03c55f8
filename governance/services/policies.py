"""Writing policies and finding the ones that apply.

Every save makes a new immutable PolicyVersion; the Policy points at its latest. A save that
changes what applies marks the affected open promotion requests stale, in the same transaction.
"""

import json
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from audit import trail
from core import roles
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from governance.assessments import results_json
from governance.models import Policy, PolicyVersion
from governance.policies import document as policy_document
from governance.policies.errors import PolicyDocumentError

PACK_DIR = Path(__file__).resolve().parent.parent / "policies" / "packs"


def can_write(user: Any) -> bool:
    return user.is_authenticated and roles.has_role(user, roles.RISK_OFFICER, roles.ADMIN)


def parse_source(
    source: str | dict[str, Any], source_format: str | None = None
) -> tuple[dict, str, str]:
    """(normalised document, source text, format) from YAML/JSON text or already-parsed data."""
    if isinstance(source, dict):
        try:
            text = json.dumps(source, indent=2, ensure_ascii=False, sort_keys=False, default=str)
        except (RecursionError, ValueError) as exc:
            raise PolicyDocumentError("document", f"cannot be read: {exc}") from None
        if len(text.encode("utf-8")) > policy_document.MAX_SOURCE_BYTES:
            raise PolicyDocumentError(
                "document", f"is larger than {policy_document.MAX_SOURCE_BYTES // 1024} KiB"
            )
        return policy_document.parse(source), text, "json"
    if not isinstance(source, str) or not source.strip():
        raise PolicyDocumentError("source", "is empty")
    fmt = source_format or ("json" if source.lstrip().startswith("{") else "yaml")
    return policy_document.parse(policy_document.load_source(source, fmt)), source, fmt


def save_policy(
    *,
    by: Any,
    source: str | dict[str, Any],
    source_format: str | None = None,
    name: str | None = None,
    change_note: str = "",
    create: bool | None = None,
) -> PolicyVersion:
    """Validate a document and store it as the next version of its policy.

    `name`: the policy being updated (PUT); the document's name must match it. `create=True`
    refuses an existing name (POST), `create=False` refuses a new one. A document identical to
    the current version is refused (409): nothing would change.
    """
    if not can_write(by):
        refusal = Forbidden("only risk officers and admins can write policies")
        with transaction.atomic():
            trail.record(
                ("governance.policy", name or "", name or "a new policy"),
                "policy.write_refused",
                by=by if getattr(by, "pk", None) else None,
                data={"code": refusal.code, "reason": refusal.detail},
            )
        raise refusal
    document, text, fmt = parse_source(source, source_format)
    if name is not None and document["name"] != name:
        raise InvalidInput(
            f"name: the document is named {document['name']!r} but updates policy {name!r}",
            field="name",
        )
    digest = results_json.sha256(document)
    try:
        with transaction.atomic():
            policy = Policy.objects.select_for_update().filter(name=document["name"]).first()
            if policy is None:
                if create is False:
                    raise NotFound(f"no policy named {document['name']!r}")
                policy = Policy.objects.create(name=document["name"], created_by=by)
                number = 1
            else:
                if create is True:
                    raise Conflict(
                        f"policy {policy.name!r} already exists; save the document as its next "
                        f"version instead (API: PUT /api/v1/policies/{policy.name}/)",
                        code="policy_exists",
                    )
                current = policy.current_version
                if current is not None and current.sha256 == digest:
                    raise Conflict(
                        f"the document is identical to {current}: no new version made",
                        code="policy_unchanged",
                    )
                number = (current.version if current else 0) + 1
            version = PolicyVersion.objects.create(
                policy=policy,
                version=number,
                title=document["title"],
                document=document,
                source=text,
                source_format=fmt,
                sha256=digest,
                enabled=document["enabled"],
                risk_tiers=document["scope"]["risk_tiers"],
                target_stages=document["scope"]["target_stages"],
                change_note=change_note,
                created_by=by,
            )
            Policy.objects.filter(pk=policy.pk).update(current_version=version)
            policy.current_version = version
            trail.record(
                version,
                "policy.version_created",
                by=by,
                data={
                    "policy": policy.name,
                    "version": number,
                    "sha256": digest,
                    "enabled": version.enabled,
                    "scope": document["scope"],
                    "checks": [c["id"] for c in document["checks"]],
                    "change_note": change_note,
                },
            )
            from governance.services import staleness

            staleness.policy_changed(version, by=by)
    except IntegrityError as exc:
        raise Conflict(
            "another change to this policy was saved at the same time; reload and retry",
            code="concurrent_change",
        ) from exc
    return version


def applicable(risk_tier: str, target_stage: str) -> list[PolicyVersion]:
    """The current, enabled versions whose scope covers this risk tier and target stage.

    Scope lists are tiny JSON arrays; filtering them in Python keeps the query portable
    (SQLite has no JSON containment operator)."""
    versions = (
        PolicyVersion.objects.filter(policy__current_version=F("pk"), enabled=True)
        .select_related("policy")
        .order_by("policy__name")
    )
    return [v for v in versions if risk_tier in v.risk_tiers and target_stage in v.target_stages]


def install_pack(*, by: Any, pack_dir: Path = PACK_DIR) -> list[PolicyVersion]:
    """Save every policy of a pack directory (*.yaml) that is new or changed; skip the rest."""
    saved = []
    for path in sorted(pack_dir.glob("*.yaml")):
        try:
            saved.append(
                save_policy(
                    by=by,
                    source=path.read_text(encoding="utf-8"),
                    source_format="yaml",
                    change_note=f"installed from the policy pack file {path.name}",
                )
            )
        except Conflict as exc:
            if exc.code != "policy_unchanged":
                raise
    return saved

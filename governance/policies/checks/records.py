"""Checks on the registry's records: lineage, documentation and artifact safety."""

from governance.policies.checks.base import Check, Verdict, failed, passed
from governance.policies.context import EvidenceContext
from governance.policies.params import Param

LINEAGE_ITEMS = ("training_dataset", "code_reference", "evaluation_dataset", "parent_version")
CARD_FIELDS = (
    "title",
    "description",
    "intended_use",
    "limitations",
    "tags",
    "version_description",
)
SAFE_FORMATS = ("skops", "xgboost-json", "xgboost-ubj", "lightgbm-text", "onnx")


class LineageComplete(Check):
    type = "lineage_complete"
    summary = "lineage complete"
    params = {
        "require": Param(
            "str_list", default=["training_dataset", "code_reference"], choices=LINEAGE_ITEMS
        ),
    }

    def default_title(self) -> str:
        return f"lineage records {', '.join(self.p['require']).replace('_', ' ')}"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        version = context.version
        present = {
            "training_dataset": [ref for ref, sha in version.training_datasets if sha],
            "code_reference": (
                [f"{version.code_repository}@{version.code_commit}"]
                if version.code_repository and version.code_commit
                else []
            ),
            "evaluation_dataset": [ref for ref, sha in version.evaluation_datasets if sha],
            "parent_version": [version.parent] if version.parent else [],
        }
        observed = {item: present[item] for item in self.p["require"]}
        missing = [item for item in self.p["require"] if not present[item]]
        if missing:
            hints = {
                "training_dataset": "no trained_on edge to a registered dataset version",
                "code_reference": "code_repository and code_commit must both be set",
                "evaluation_dataset": "no evaluated_on edge to a registered dataset version",
                "parent_version": "no parent version",
            }
            return failed(
                "; ".join(f"{item.replace('_', ' ')} missing: {hints[item]}" for item in missing),
                observed=observed,
                threshold={"require": self.p["require"]},
            )
        return passed(
            "; ".join(
                f"{item.replace('_', ' ')}: {', '.join(observed[item])}" for item in observed
            ),
            observed=observed,
            threshold={"require": self.p["require"]},
        )


class DocumentationComplete(Check):
    type = "documentation_complete"
    summary = "documentation complete"
    params = {"fields": Param("str_list", required=True, choices=CARD_FIELDS)}

    def default_title(self) -> str:
        return f"model card fields filled in: {', '.join(self.p['fields'])}"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        card = context.version.model_card
        empty = [name for name in self.p["fields"] if not _filled(card.get(name))]
        observed = {name: _filled(card.get(name)) for name in self.p["fields"]}
        if empty:
            return failed(
                f"model card fields empty: {', '.join(empty)}",
                observed=observed,
                threshold={"fields": self.p["fields"]},
            )
        return passed(
            f"model card fields filled in: {', '.join(self.p['fields'])}",
            observed=observed,
            threshold={"fields": self.p["fields"]},
        )


def _filled(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return bool(value)


class ArtifactSafety(Check):
    type = "artifact_safety"
    summary = "artifact safety"
    params = {"allowed_formats": Param("str_list", default=list(SAFE_FORMATS))}

    def default_title(self) -> str:
        return f"artifact in a safe format ({', '.join(self.p['allowed_formats'])}), not unsafe"

    def evaluate(self, context: EvidenceContext) -> Verdict:
        version = context.version
        observed = {
            "format": version.artifact_format,
            "is_unsafe": version.is_unsafe,
            "artifact_sha256": version.artifact_sha256,
        }
        threshold = {"allowed_formats": self.p["allowed_formats"]}
        if version.is_unsafe:
            return failed(
                f"the artifact is marked unsafe ({version.artifact_format}: loading it can run "
                f"arbitrary code)",
                observed=observed,
                threshold=threshold,
            )
        if version.artifact_format not in self.p["allowed_formats"]:
            return failed(
                f"format {version.artifact_format} is not allowed by this policy",
                observed=observed,
                threshold=threshold,
            )
        return passed(
            f"{version.artifact_format} artifact, loaded safely at registration",
            observed=observed,
            threshold=threshold,
        )

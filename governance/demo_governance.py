"""The demo's governance story, told through the same services as the API.

rita (risk officer) installs the shipped policy pack and adapts the high-risk policy to the
credit team's context; version 1 of adult-income is blocked by its fairness check on sex (the
dry-run says why); vera raises a high-severity validation finding on it for dana; dana registers version 2,
mitigated with Fairlearn's ExponentiatedGradient, and answers the finding; vera closes it and
assesses version 2; dana asks for production; vera and rita approve; the gate re-evaluates and
promotes it in the same transaction.
"""

import copy
import io
from collections.abc import Callable
from typing import Any

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model

from governance import demo_model
from governance.models import Finding, PolicyEvaluation, PromotionRequest, StageChange
from governance.services import evaluation as gate
from governance.services import findings, policies, promotions
from registry.models import ModelVersion
from registry.services import versions as version_service

# The organisation's reading of the shipped high-risk fairness check: sex is the protected
# attribute the credit policy is about; race groups are as small as 135 rows in the test file,
# so their demographic-parity gap is held to a looser limit and monitored.
FAIRNESS_CHECKS = [
    {
        "id": "fairness-sex",
        "type": "fairness_threshold",
        "title": "demographic parity difference for sex at most 0.10",
        "metric": "demographic_parity_difference",
        "features": ["sex"],
        "max": 0.10,
        "min_group_size": 30,
        "clauses": ["eu-ai-act:art-10", "eu-ai-act:art-9", "nist-ai-rmf:measure-2.11",
                    "iso-42001:a.5.2", "sr-26-2:validation"],
    },
    {
        "id": "fairness-race",
        "type": "fairness_threshold",
        "title": "demographic parity difference for race at most 0.20 (small groups)",
        "metric": "demographic_parity_difference",
        "features": ["race"],
        "max": 0.20,
        "min_group_size": 100,
        "clauses": ["eu-ai-act:art-10", "nist-ai-rmf:measure-2.11", "sr-26-2:validation"],
    },
]  # fmt: skip


class GovernanceStory:
    def __init__(self, write: Callable[[str], None], style: Any) -> None:
        self.write = write
        self.style = style
        User = get_user_model()
        self.users = {
            u.username: u for u in User.objects.filter(username__in=["dana", "vera", "rita"])
        }

    def policies(self) -> None:
        rita = self.users["rita"]
        saved = policies.install_pack(by=rita)
        self.write("")
        self.write("Policies (rita, risk officer):")
        for version in saved:
            self.write(
                f"  installed {version} ({len(version.checks)} checks) from the shipped pack"
            )
        current = policies.applicable("high", "production")[0]
        document = copy.deepcopy(current.document)
        checks = []
        for check in document["checks"]:
            if check["type"] == "fairness_threshold":
                checks.extend(FAIRNESS_CHECKS)
            else:
                checks.append({"id": check["id"], "type": check["type"], "title": check["title"],
                               "clauses": check["clauses"], **check["params"]})  # fmt: skip
        document["checks"] = checks
        adapted = policies.save_policy(
            by=rita,
            source=yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
            source_format="yaml",
            name=document["name"],
            change_note="credit team: fairness judged on sex at 0.10; race at 0.20 with groups "
            "of at least 100 rows",
        )
        self.write(f"  adapted {adapted}: fairness on sex (<= 0.10) and race (<= 0.20)")

    def dry_run(self, version: ModelVersion, who: str = "dana") -> PolicyEvaluation:
        evaluation = gate.evaluate(version, "production", by=self.users[who])
        checks = list(evaluation.checks.order_by("position"))
        passed = sum(c.passed for c in checks)
        verdict = (
            self.style.SUCCESS("would pass") if evaluation.passed else self.style.WARNING("blocked")
        )
        self.write("")
        self.write(
            f"Dry-run of {version} for production (evaluation #{evaluation.pk}): {verdict}, "
            f"{passed} of {len(checks)} checks pass"
        )
        for check in checks:
            if not check.passed:
                self.write(f"  FAIL {check.check_id}: {check.reason}")
        return evaluation

    def raise_finding(self, version: ModelVersion, blocked: PolicyEvaluation) -> Finding:
        """vera turns the failing fairness check into a finding dana must answer."""
        failing = blocked.checks.get(check_id="fairness-sex")
        finding = findings.raise_finding(
            by=self.users["vera"],
            version=version,
            title="Demographic parity on sex above the credit policy's limit",
            severity="high",
            description=f"Policy check fairness-sex fails: {failing.reason}. Mitigate the "
            "disparity or justify it before this model can be promoted.",
            owner=self.users["dana"],
        )
        self.write(f"  vera (validator) raised finding #{finding.pk} (high) for dana")
        return finding

    def resolve_finding(self, finding: Finding, mitigated: ModelVersion) -> None:
        findings.answer(
            by=self.users["dana"],
            finding=finding,
            remediation=f"Mitigated in {mitigated} with Fairlearn's ExponentiatedGradient "
            "(demographic parity on sex); version 1 will not be promoted.",
        )
        findings.close(
            by=self.users["vera"],
            finding=finding,
            note=f"Remediation accepted: {mitigated} carries the mitigation and goes through "
            "its own validation.",
        )
        self.write(f"  dana answered finding #{finding.pk}; vera closed it")

    def register_mitigated(
        self, v1: ModelVersion, trained: demo_model.TrainedModel, artifact: bytes
    ) -> ModelVersion:
        dana = self.users["dana"]
        training = v1.upstream_edges.get(kind="trained_on").object_dataset_version
        evaluation = v1.upstream_edges.get(kind="evaluated_on").object_dataset_version
        mitigation = trained.parameters["mitigation"]
        version = version_service.register_version(
            v1.model,
            by=dana,
            artifact=io.BytesIO(artifact),
            artifact_format="skops",
            feature_names=trained.feature_names,
            metrics=trained.metrics,
            parameters=trained.parameters,
            training_dataset=training,
            evaluation_dataset=evaluation,
            code_repository=v1.code_repository or str(settings.BASE_DIR),
            code_commit=v1.code_commit,
            parent=v1,
            description=(
                f"v1 mitigated with {mitigation['method']} ({mitigation['constraint']} on "
                f"{mitigation['sensitive_feature']}, eps {mitigation['eps']}); kept the predictor "
                f"with weight {mitigation['kept_predictor_weight']:.2f}."
            ),
        )
        self.write("")
        self.write(
            f"Registered {version} (dana): {trained.parameters['mitigation']['method']} with "
            f"{mitigation['constraint']} on sex; accuracy {trained.metrics['accuracy']:.4f}, "
            f"ROC AUC {trained.metrics['roc_auc']:.4f}"
        )
        return version

    def promote(self, version: ModelVersion) -> PromotionRequest:
        dana, vera, rita = (self.users[n] for n in ("dana", "vera", "rita"))
        request = promotions.open_request(
            by=dana,
            version=version,
            target_stage="production",
            justification="Mitigated version: demographic parity on sex within policy; "
            "performance within the high-risk minimum.",
        )
        self.write("")
        self.write(
            f"Promotion request #{request.pk} (dana): {version} to production, needs "
            f"{', '.join(f'{n} {r}' for r, n in request.required_approvals.items())}"
        )
        request = promotions.review(
            by=vera, request=request, decision="approve",
            comment="Validation: fairness mitigated on sex, metrics and explanation reviewed.",
        )  # fmt: skip
        self.write(f"  vera (validator) approved; request is {request.status}")
        request = promotions.review(
            by=rita, request=request, decision="approve",
            comment="Risk acceptance: residual race disparity within the credit policy.",
        )  # fmt: skip
        version.refresh_from_db()
        if request.status == "completed":
            self.write(
                self.style.SUCCESS(
                    f"  rita (risk officer) approved; the gate passed and {version} is in "
                    f"{version.stage}"
                )
            )
        else:
            self.write(self.style.WARNING(f"  rita approved; request is {request.status}:"))
            for blocking in request.blocking:
                self.write(f"    {blocking['check']}: {blocking['reason']}")
        self.write("")
        self.write(f"Stage history of {version.model.name}:")
        for change in StageChange.objects.filter(model=version.model).order_by("id"):
            self.write(
                f"  {change.created_at:%Y-%m-%d %H:%M:%S} {change.model_version} "
                f"{change.from_stage} -> {change.to_stage} by {change.changed_by} "
                f"(request #{change.promotion_request_id}, evaluation #{change.evaluation_id})"
            )
        return request

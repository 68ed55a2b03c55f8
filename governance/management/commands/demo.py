"""manage.py demo: a working ModelGate on a fresh database, with a real model and real data.

Creates one user per role with a random password and an API token (shown once), the team
"credit-risk", the UCI Adult train and test files as dataset versions, and a scikit-learn model
trained on the first and scored on the second, registered as adult-income version 1 with its
lineage. Then the governance story (governance/demo_governance.py): the policy pack, a dry-run that
the fairness check blocks, a mitigated version 2, its approvals and its promotion to production.
Everything goes through the services, so the audit trail is the real one.
"""

import gzip
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from audit import trail
from core import roles
from core.errors import ModelGateError
from core.models import Team
from governance import demo_model
from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel, RiskTier
from registry.services import datasets as dataset_service
from registry.services import models as model_service
from registry.services import versions as version_service

DATA_DIR = Path(settings.BASE_DIR) / "examples" / "data"
TEAM = "credit-risk"
MODEL = "adult-income"
TRAIN, TEST = "adult-train", "adult-test"
SENSITIVE_FEATURES = ["sex", "race"]


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    full_name: str
    in_team: bool = False
    superuser: bool = False


CAST = (
    DemoUser("dana", roles.DATA_SCIENTIST, "Dana Scientist", in_team=True),
    DemoUser("vera", roles.VALIDATOR, "Vera Validator"),
    DemoUser("rita", roles.RISK_OFFICER, "Rita Risk"),
    DemoUser("aldo", roles.AUDITOR, "Aldo Auditor"),
    DemoUser("ada", roles.ADMIN, "Ada Admin", in_team=True, superuser=True),
)

INTENDED_USE = (
    "Demonstration of ModelGate's governance workflow: estimate whether a person's annual income "
    "exceeded $50K from 1994 US census attributes. Not for decisions about real people."
)
LIMITATIONS = (
    "Trained on the 1994 UCI Adult census extract: dated, US-only and unrepresentative of today's "
    "incomes. Sex and race are model inputs on purpose, so that fairness assessments have real "
    "disparities to find. Missing workclass, occupation and native_country values are their own "
    "category. Outputs are 1 for '>50K' and 0 for '<=50K'."
)


def _gunzip(name: str, destination: Path) -> Path:
    source = DATA_DIR / name
    if not source.is_file():
        raise CommandError(f"{source} is missing: the demo needs the vendored Adult data")
    with gzip.open(source, "rb") as compressed, destination.open("wb") as out:
        shutil.copyfileobj(compressed, out)
    return destination


def _code_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "uncommitted"
    try:
        result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [git, "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "uncommitted"
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else "uncommitted"


DEMO_ASSESSMENTS = (
    ("performance", {}),
    ("fairness", {"n_bootstrap": 200, "min_group_size": 30}),
    ("explainability", {"max_rows": 5000, "n_local": 5}),
)


def _headline(results: dict[str, Any]) -> str:
    """One line of the numbers a reviewer looks at first."""
    if results["kind"] == "performance":
        metrics = results["metrics"]
        return f"accuracy {metrics['accuracy']:.4f}, ROC AUC {metrics['roc_auc']:.4f}"
    if results["kind"] == "fairness":
        parts = []
        for feature in results.get("parameters", {}).get("sensitive_features", []):
            values = results["disparities"].get(feature, {})
            gaps = [
                f"{label} {values[key]:.3f}"
                for key, label in (
                    ("demographic_parity_difference", "demographic parity difference"),
                    ("equalized_odds_difference", "equalized odds difference"),
                )
                if isinstance(values.get(key), int | float)
            ]
            if gaps:
                parts.append(f"{feature}: {', '.join(gaps)}")
        return "; ".join(parts) or "see the results"
    top = results.get("ranking", [])[:3]
    share = results.get("sensitive_share", {}).get("share")
    shown = f"top features {', '.join(top)}"
    if isinstance(share, int | float):
        shown += f"; {share:.1%} of attribution on sensitive features"
    return shown


class Command(BaseCommand):
    help = (
        "Load the demo (users per role, team, UCI Adult datasets, a trained adult-income model) "
        "into a fresh database, print the credentials once, then serve on 127.0.0.1:8000."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="load the data, do not serve")
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="where to serve")
        parser.add_argument("--seed", type=int, default=0, help="random seed for training")
        parser.add_argument(
            "--estimator",
            choices=demo_model.ESTIMATORS,
            default="logistic-regression",
            help="hist-gradient-boosting needs sklearn.ensemble._hist_gradient_boosting."
            "predictor.TreePredictor in MODELGATE_SKOPS_TRUSTED_TYPES",
        )
        parser.add_argument(
            "--no-governance",
            action="store_true",
            help="stop after assessing version 1: no policies, mitigated version or promotion",
        )
        parser.add_argument(
            "--sample",
            type=int,
            default=0,
            metavar="N",
            help="train on N random training rows (default: all); the datasets stay complete",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sample"] < 0:
            raise CommandError("--sample must be positive")
        if ModelVersion.objects.filter(model__name=MODEL, version=1).exists():
            self.stdout.write(
                self.style.WARNING(
                    "The demo data is already loaded (passwords were printed when it was "
                    "created; reset one with `manage.py changepassword dana`)."
                )
            )
        else:
            self._refuse_partial_data()
            credentials, version = self._load(options)
            self._print_credentials(credentials)
            self.stdout.write(
                f"Registered {version.model.name} v{version.version}: "
                f"accuracy {version.metrics['accuracy']:.4f}, "
                f"ROC AUC {version.metrics['roc_auc']:.4f} on {TEST}:1, "
                f"sha256 {version.artifact_sha256}"
            )
            self._assess(version)
            if not options["no_governance"]:
                self._govern(version)
        self._print_summary(options["addrport"])
        if not options["no_serve"]:
            call_command("runserver", options["addrport"], use_reloader=False)

    def _refuse_partial_data(self) -> None:
        User = get_user_model()
        taken = [
            *(f"user {n}" for n in User.objects.filter(username__in=[u.username for u in CAST])
              .values_list("username", flat=True)),
            *(f"dataset {n}" for n in Dataset.objects.filter(name__in=[TRAIN, TEST])
              .values_list("name", flat=True)),
            *(f"model {n}" for n in RegisteredModel.objects.filter(name=MODEL)
              .values_list("name", flat=True)),
        ]  # fmt: skip
        if taken:
            raise CommandError(
                f"this database already holds part of the demo ({', '.join(taken)}); run the demo "
                "on a fresh database, e.g. `MODELGATE_VAR_DIR=$(mktemp -d) make demo`, or delete "
                "var/ to start over"
            )

    def _load(
        self, options: dict[str, Any]
    ) -> tuple[list[tuple[DemoUser, str, str]], ModelVersion]:
        with tempfile.TemporaryDirectory(prefix="modelgate-demo-") as tmp:
            work = Path(tmp)
            train_csv = _gunzip("adult_train.csv.gz", work / "adult_train.csv")
            test_csv = _gunzip("adult_test.csv.gz", work / "adult_test.csv")
            self.stdout.write(f"Training {options['estimator']} on {train_csv.name} ...")
            trained = demo_model.train(
                train_csv,
                test_csv,
                work,
                estimator=options["estimator"],
                seed=options["seed"],
                sample=options["sample"],
            )
            self.stdout.write(
                f"Trained on {trained.train_rows} rows in {trained.seconds:.1f} s; "
                f"scored on {trained.test_rows} test rows."
            )
            if not options["no_governance"]:
                self.stdout.write("Training the fairness-mitigated version (Fairlearn) ...")
                mitigated = demo_model.train_mitigated(
                    train_csv, test_csv, work, seed=options["seed"], sample=options["sample"]
                )
                self.stdout.write(f"Trained in {mitigated.seconds:.1f} s.")
                self.mitigated = (mitigated, mitigated.path.read_bytes())
            try:
                # All or nothing: a refused artifact leaves no half-loaded demo behind.
                with transaction.atomic():
                    credentials, users = self._create_cast()
                    version = self._register(users["dana"], train_csv, test_csv, trained)
            except ModelGateError as exc:
                raise CommandError(
                    f"the demo could not be loaded: {exc.detail} [{exc.code}]"
                ) from exc
        return credentials, version

    def _create_cast(
        self,
    ) -> tuple[list[tuple[DemoUser, str, str]], dict[str, AbstractUser]]:
        User = get_user_model()
        team, team_created = Team.objects.get_or_create(
            name=TEAM, defaults={"title": "Credit risk"}
        )
        if team_created:
            trail.record(team, "core.team.created", data={"name": TEAM, "via": "manage.py demo"})
        credentials: list[tuple[DemoUser, str, str]] = []
        users: dict[str, AbstractUser] = {}
        for cast in CAST:
            password = secrets.token_urlsafe(12)
            first, last = cast.full_name.split(" ", 1)
            user = User.objects.create_user(
                username=cast.username,
                email=f"{cast.username}@example.org",
                password=password,
                first_name=first,
                last_name=last,
                is_staff=True,
                is_superuser=cast.superuser,
            )
            user.groups.add(Group.objects.get(name=cast.role))
            token = Token.objects.create(user=user)
            trail.record(
                user,
                "core.user.created",
                data={
                    "username": cast.username,
                    "roles": [cast.role],
                    "is_staff": True,
                    "is_superuser": cast.superuser,
                    "via": "manage.py demo",
                },
            )
            if cast.in_team:
                team.members.add(user)
                trail.record(team, "core.team.member_added", data={"username": cast.username})
            credentials.append((cast, password, token.key))
            users[cast.username] = user
        return credentials, users

    def _register(
        self, dana: AbstractUser, train_csv: Path, test_csv: Path, trained: demo_model.TrainedModel
    ) -> ModelVersion:
        team = Team.objects.get(name=TEAM)
        versions: dict[str, DatasetVersion] = {}
        for name, path, split in ((TRAIN, train_csv, "training"), (TEST, test_csv, "test")):
            dataset = dataset_service.register_dataset(
                by=dana,
                name=name,
                description=f"UCI Adult (Census Income) {split} split, 1994 US census extract "
                "(Becker and Kohavi, 1996; CC BY 4.0). Target income: '>50K' or '<=50K'.",
            )
            with path.open("rb") as handle:
                versions[name] = dataset_service.register_dataset_version(
                    dataset,
                    by=dana,
                    file=handle,
                    target_column=demo_model.TARGET,
                    sensitive_features=SENSITIVE_FEATURES,
                    description=f"{path.name} as vendored in examples/data/",
                )
        model = model_service.register_model(
            by=dana,
            name=MODEL,
            owner_team=team,
            title="Adult income (> $50K) classifier",
            description="Predicts whether annual income exceeds $50K from census attributes.",
            risk_tier=RiskTier.HIGH,
            intended_use=INTENDED_USE,
            limitations=LIMITATIONS,
            tags=["demo", "tabular", "census", "binary-classification"],
        )
        with trained.path.open("rb") as artifact:
            return version_service.register_version(
                model,
                by=dana,
                artifact=artifact,
                artifact_format="skops",
                feature_names=trained.feature_names,
                metrics=trained.metrics,
                parameters=trained.parameters,
                training_dataset=versions[TRAIN],
                evaluation_dataset=versions[TEST],
                code_repository=str(settings.BASE_DIR),
                code_commit=_code_commit(),
                description=f"{trained.parameters['estimator']} pipeline trained by manage.py demo "
                f"(seed {trained.parameters['seed']}).",
            )

    def _assess(self, version: ModelVersion) -> None:
        """The validator assesses the model on the held-out test set, as a real review would."""
        from governance.jobs import runner
        from governance.services.assessments import request_assessment

        vera = get_user_model().objects.get(username="vera")
        evaluation = DatasetVersion.objects.get(dataset__name=TEST, version=1)
        self.stdout.write("")
        self.stdout.write(f"Assessing {version} on {evaluation} as vera (validator):")
        for kind, parameters in DEMO_ASSESSMENTS:
            assessment = request_assessment(
                by=vera,
                kind=kind,
                model_version=version,
                dataset_version=evaluation,
                sensitive_features=SENSITIVE_FEATURES,
                parameters=parameters,
                enqueue=False,  # run here, in order, so the demo ends with the evidence in place
            )
            started = time.monotonic()
            runner.execute(assessment.pk)
            assessment.refresh_from_db()
            took = time.monotonic() - started
            if assessment.status != "succeeded":
                raise CommandError(
                    f"the demo's {kind} assessment failed: {assessment.error_message} "
                    f"[{assessment.error_code}]"
                )
            self.stdout.write(
                f"  {kind:<15} #{assessment.pk} succeeded in {took:.1f} s: "
                f"{_headline(assessment.results)}"
            )

    def _govern(self, v1: ModelVersion) -> None:
        """Policies, a blocked dry-run, a mitigated version, approvals and the promotion."""
        from governance.demo_governance import GovernanceStory

        story = GovernanceStory(self.stdout.write, self.style)
        story.policies()
        blocked = story.dry_run(v1)
        finding = story.raise_finding(v1, blocked)
        trained, artifact = self.mitigated
        v2 = story.register_mitigated(v1, trained, artifact)
        story.resolve_finding(finding, v2)
        self._assess(v2)
        story.dry_run(v2)
        story.promote(v2)

    def _print_credentials(self, credentials: list[tuple[DemoUser, str, str]]) -> None:
        rows = [("user", "role", "password", "API token")] + [
            (cast.username, cast.role, password, token) for cast, password, token in credentials
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        self.stdout.write("")
        self.stdout.write(self.style.WARNING("Demo accounts (shown only now; note them down):"))
        self.stdout.write(line)
        for index, row in enumerate(rows):
            self.stdout.write(
                "| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |"
            )
            if index == 0:
                self.stdout.write(line)
        self.stdout.write(line)

    def _print_summary(self, addrport: str) -> None:
        base = f"http://{addrport if ':' in addrport else '127.0.0.1:' + addrport}"
        version = ModelVersion.objects.select_related("model").get(model__name=MODEL, version=1)
        edges = version.upstream_edges.select_related(
            "object_dataset_version__dataset", "object_model_version__model"
        )
        result = trail.verify_chain()
        self.stdout.write("")
        self.stdout.write(f"Lineage of {version}:")
        for edge in edges:
            self.stdout.write(f"  {version} {edge.kind} {edge.object}")
        verdict = (
            self.style.SUCCESS(
                f"valid ({result.event_count} events, head {result.head_hash[:16]}...)"
            )
            if result.valid
            else self.style.ERROR(f"INVALID at event {result.first_bad_event_id}: {result.reason}")
        )
        self.stdout.write(f"Audit chain: {verdict}")
        self.stdout.write("")
        self.stdout.write(f"  Sign in:        {base}/accounts/login/ (any user above)")
        self.stdout.write(f"  Review inbox:   {base}/review/")
        self.stdout.write(f"  Model page:     {base}/models/{MODEL}/")
        self.stdout.write(f"  Admin:          {base}/admin/")
        self.stdout.write(f"  API docs:       {base}/api/docs/")
        self.stdout.write(f"  Model version:  {base}/api/v1/models/{MODEL}/versions/1/")
        self.stdout.write(f"  Lineage:        {base}/api/v1/models/{MODEL}/versions/1/lineage/")
        self.stdout.write(f"  Audit verify:   {base}/api/v1/audit-events/verify/")
        from governance.models import Assessment

        for assessment in Assessment.objects.filter(model_version=version).order_by("pk"):
            self.stdout.write(
                f"  {assessment.kind.capitalize() + ':':<16}{base}/api/v1/assessments/"
                f"{assessment.pk}/ (admin: {base}/admin/governance/assessment/{assessment.pk}/"
                "change/)"
            )
            chart = assessment.charts.filter(format="png").order_by("pk").first()
            if chart is not None:
                self.stdout.write(
                    f"  {'':<16}chart: {base}/api/v1/assessments/{assessment.pk}/charts/"
                    f"{chart.name}.png"
                )
        from governance.models import PolicyEvaluation, PromotionRequest

        for evaluation in PolicyEvaluation.objects.filter(
            model_version__model__name=MODEL, purpose="dry_run"
        ).order_by("pk"):
            self.stdout.write(
                f"  {'Dry-run:':<16}{base}/api/v1/evaluations/{evaluation.pk}/ "
                f"({evaluation.model_version}: {'passed' if evaluation.passed else 'blocked'})"
            )
        for request in PromotionRequest.objects.filter(model__name=MODEL).order_by("pk"):
            self.stdout.write(
                f"  {'Promotion:':<16}{base}/api/v1/promotion-requests/{request.pk}/ "
                f"({request.model_version} to {request.target_stage}: {request.status})"
            )
        self.stdout.write(f"  {'Policies:':<16}{base}/api/v1/policies/")
        self.stdout.write(f"  {'Stage history:':<16}{base}/api/v1/models/{MODEL}/stage-history/")
        self.stdout.write(
            f'  Try: curl -H "Authorization: Token <dana\'s token>" -X POST -d '
            f"target_stage=production {base}/api/v1/models/{MODEL}/versions/1/evaluation/"
        )

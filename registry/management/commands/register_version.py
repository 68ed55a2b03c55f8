"""manage.py register_version: upload an artifact as the next version of a model."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import ActorCommand
from registry import refs
from registry.models import ArtifactFormat, ModelVersion, RegisteredModel
from registry.services import versions as version_service


def _json_option(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--{name}: not valid JSON ({exc.msg} at position {exc.pos})") from exc


class Command(ActorCommand):
    actor_help = "who registers it (recorded in the audit trail)"
    help = (
        "Register the next version of a model from an artifact file; the artifact is validated "
        "(format, safe loading) and its lineage recorded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("model", help="name of the registered model")
        parser.add_argument("--artifact", type=Path, required=True, help="the model file")
        parser.add_argument(
            "--format",
            dest="artifact_format",
            default=ArtifactFormat.SKOPS,
            choices=ArtifactFormat.values,
        )
        parser.add_argument("--framework", default="", help="default: what the artifact says")
        parser.add_argument("--metrics", help="JSON object, e.g. '{\"accuracy\": 0.85}'")
        parser.add_argument("--parameters", help="JSON object of training parameters")
        parser.add_argument(
            "--feature-name",
            dest="feature_names",
            action="append",
            default=[],
            help="an input feature, in order; repeat for several",
        )
        parser.add_argument("--training-dataset", metavar="NAME:VERSION")
        parser.add_argument("--evaluation-dataset", metavar="NAME:VERSION")
        parser.add_argument("--code-repository", default="")
        parser.add_argument("--code-commit", default="")
        parser.add_argument(
            "--parent-version",
            type=int,
            metavar="N",
            help="the version of this model it derives from",
        )
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        model = (
            RegisteredModel.objects.select_related("owner_team")
            .filter(name=options["model"])
            .first()
        )
        if model is None:
            raise CommandError(f"no model named {options['model']!r}")
        path: Path = options["artifact"]
        if not path.is_file():
            raise CommandError(f"--artifact: {path} is not a readable file")
        metrics = _json_option(options["metrics"], "metrics")
        parameters = _json_option(options["parameters"], "parameters")
        parent = None
        if options["parent_version"] is not None:
            parent = ModelVersion.objects.filter(
                model=model, version=options["parent_version"]
            ).first()
            if parent is None:
                raise CommandError(
                    f"--parent-version: {model.name} has no version {options['parent_version']}"
                )
        datasets = {
            field: refs.dataset_version(options[field], field=field) if options[field] else None
            for field in ("training_dataset", "evaluation_dataset")
        }
        with path.open("rb") as artifact:
            version = version_service.register_version(
                model,
                by=actor,
                artifact=artifact,
                artifact_format=options["artifact_format"],
                framework=options["framework"],
                feature_names=options["feature_names"] or None,
                metrics=metrics,
                parameters=parameters,
                code_repository=options["code_repository"],
                code_commit=options["code_commit"],
                parent=parent,
                description=options["description"],
                **datasets,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"registered {model.name} version {version.version}: {version.artifact_format}"
                f"{' (UNSAFE format)' if version.is_unsafe else ''}, {version.artifact_size} bytes, "
                f"sha256 {version.artifact_sha256}, framework {version.framework or '-'}"
            )
        )

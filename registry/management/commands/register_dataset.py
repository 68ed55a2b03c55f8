"""manage.py register_dataset: register a dataset and optionally add a version from a file."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from core.commands import ActorCommand
from registry.models import Dataset
from registry.services import datasets as dataset_service


class Command(ActorCommand):
    actor_help = "who registers it (recorded in the audit trail)"
    help = (
        "Register a dataset; with --file, also add its next version (CSV or Parquet). When the "
        "dataset already exists, --file adds a version to it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("name", help="unique slug, e.g. adult-test")
        parser.add_argument("--description", default="")
        parser.add_argument("--file", type=Path, help="CSV or Parquet file for a new version")
        parser.add_argument("--target-column", default="")
        parser.add_argument(
            "--sensitive-feature",
            dest="sensitive_features",
            action="append",
            default=[],
            help="a sensitive column; repeat for several",
        )
        parser.add_argument(
            "--prediction-column", default="", help="column of predictions (predictions-only data)"
        )
        parser.add_argument(
            "--score-column", default="", help="column of scores (predictions-only data)"
        )
        parser.add_argument("--version-description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        path: Path | None = options["file"]
        version_options = (
            "target_column",
            "sensitive_features",
            "prediction_column",
            "score_column",
        )
        if path is None and any(options[name] for name in version_options):
            raise CommandError("--target-column and the other column options need --file")
        if path is not None and not path.is_file():
            raise CommandError(f"--file: {path} is not a readable file")
        version = None
        # The dataset and its first version are created together or not at all.
        with transaction.atomic():
            dataset = Dataset.objects.filter(name=options["name"]).first()
            created = dataset is None or path is None
            if created:
                dataset = dataset_service.register_dataset(
                    by=actor, name=options["name"], description=options["description"]
                )
            if path is not None:
                with path.open("rb") as handle:
                    version = dataset_service.register_dataset_version(
                        dataset,
                        by=actor,
                        file=handle,
                        target_column=options["target_column"],
                        sensitive_features=options["sensitive_features"],
                        prediction_column=options["prediction_column"],
                        score_column=options["score_column"],
                        description=options["version_description"],
                    )
        if created:
            self.stdout.write(self.style.SUCCESS(f"registered dataset {dataset.name}"))
        if version is not None:
            self.stdout.write(
                self.style.SUCCESS(
                    f"registered dataset version {dataset.name}:{version.version} "
                    f"({version.file_format}, {version.row_count} rows, "
                    f"{len(version.schema)} columns, sha256 {version.sha256})"
                )
            )

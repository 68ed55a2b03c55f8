"""manage.py add_lineage_edge: record a typed lineage edge between two registry items."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ModelGateError
from registry import refs
from registry.models import EdgeKind
from registry.services import lineage as lineage_service


class Command(BaseCommand):
    help = (
        'Record "SUBJECT KIND OBJECT", e.g. model:adult-income:2 derived_from model:adult-income:1 '
        "or dataset:adult-clean:1 derived_from dataset:adult-train:1. Cycles are refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject", help="model:<name>:<version> or dataset:<name>:<version>")
        parser.add_argument("kind", choices=EdgeKind.values)
        parser.add_argument("object", help="model:<name>:<version> or dataset:<name>:<version>")
        parser.add_argument(
            "--as",
            dest="actor",
            required=True,
            metavar="USERNAME",
            help="who records it (recorded in the audit trail)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = get_user_model().objects.filter(username=options["actor"], is_active=True).first()
        if actor is None:
            raise CommandError(f"--as: no active user named {options['actor']!r}")
        try:
            subject = refs.node(options["subject"], field="subject")
            obj = refs.node(options["object"], field="object")
            edge = lineage_service.add_edge(subject, options["kind"], obj, by=actor)
        except ModelGateError as exc:
            raise CommandError(f"{exc.detail} [{exc.code}]") from exc
        self.stdout.write(
            self.style.SUCCESS(f"recorded lineage edge #{edge.pk}: {subject} {edge.kind} {obj}")
        )

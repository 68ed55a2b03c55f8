"""manage.py add_lineage_edge: record a typed lineage edge between two registry items."""

from typing import Any

from django.core.management.base import CommandParser

from core.commands import ActorCommand
from registry import refs
from registry.models import EdgeKind
from registry.services import lineage as lineage_service


class Command(ActorCommand):
    actor_help = "who records it (recorded in the audit trail)"
    help = (
        'Record "SUBJECT KIND OBJECT", e.g. model:adult-income:2 derived_from model:adult-income:1 '
        "or dataset:adult-clean:1 derived_from dataset:adult-train:1. Cycles are refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("subject", help="model:<name>:<version> or dataset:<name>:<version>")
        parser.add_argument("kind", choices=EdgeKind.values)
        parser.add_argument("object", help="model:<name>:<version> or dataset:<name>:<version>")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        subject = refs.node(options["subject"], field="subject")
        obj = refs.node(options["object"], field="object")
        edge = lineage_service.add_edge(subject, options["kind"], obj, by=actor)
        self.stdout.write(
            self.style.SUCCESS(f"recorded lineage edge #{edge.pk}: {subject} {edge.kind} {obj}")
        )

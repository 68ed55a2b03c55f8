"""manage.py install_policies: save the shipped policy pack (or another directory of YAML files)."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import ActorCommand
from governance.services import policies


class Command(ActorCommand):
    actor_help = "who installs them: a risk officer or an admin (recorded in the audit trail)"
    help = (
        "Save every policy of a pack (*.yaml files; default: the shipped pack covering minimal, "
        "limited and high risk) that is new or changed as its next version; unchanged policies "
        "are skipped, so running it twice changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--pack-dir",
            type=Path,
            default=policies.PACK_DIR,
            metavar="DIR",
            help=f"directory of policy documents (default: {policies.PACK_DIR})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        pack_dir: Path = options["pack_dir"]
        if not pack_dir.is_dir() or not any(pack_dir.glob("*.yaml")):
            raise CommandError(f"--pack-dir: {pack_dir} holds no *.yaml policy documents")
        saved = policies.install_pack(by=actor, pack_dir=pack_dir)
        for version in saved:
            self.stdout.write(
                self.style.SUCCESS(
                    f"saved {version} ({len(version.checks)} checks; risk tiers "
                    f"{', '.join(version.risk_tiers)}; stages {', '.join(version.target_stages)}; "
                    f"sha256 {version.sha256})"
                )
            )
        if not saved:
            self.stdout.write(f"every policy in {pack_dir} is installed and unchanged")

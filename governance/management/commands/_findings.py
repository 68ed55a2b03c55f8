"""Shared by the finding commands: the finding an argument names, and how one reads on a
terminal."""

from django.core.management.base import CommandParser

from core.errors import NotFound
from governance.models import Finding


def add_finding_argument(parser: CommandParser) -> None:
    parser.add_argument("finding", type=int, metavar="FINDING_ID", help="finding id")


def finding(pk: int) -> Finding:
    found = (
        Finding.objects.select_related("model_version__model", "owner", "raised_by")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise NotFound(f"no finding #{pk}")
    return found


def lines(found: Finding) -> list[str]:
    due = found.due_date.isoformat() if found.due_date else "none"
    return [
        f"finding #{found.pk} on {found.model_version}: {found.title}",
        f"severity {found.severity}, status {found.status}, owner {found.owner.get_username()}, "
        f"due {due}, raised by {found.raised_by.get_username()} ({found.raised_role})",
    ]

"""Shared fixtures: a cast of users per role, a team, API clients, isolated media storage."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from core import roles
from core.models import Team
from tests.factories import TeamFactory, UserFactory

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (triggers, advisory locks, concurrent transactions); "
    "run with DATABASE_URL=postgres://...",
)


@pytest.fixture(autouse=True)
def media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)  # type: ignore[attr-defined]
    return root


@pytest.fixture
def team(db: None) -> Team:
    return TeamFactory(name="credit-risk", title="Credit risk")


def _user(name: str, *role_names: str) -> User:
    return UserFactory(username=name, roles=list(role_names))


@pytest.fixture
def data_scientist(team: Team) -> User:
    user = _user("dana", roles.DATA_SCIENTIST)
    team.members.add(user)
    return user


@pytest.fixture
def other_data_scientist(db: None) -> User:
    """A data scientist outside the owning team."""
    return _user("omar", roles.DATA_SCIENTIST)


@pytest.fixture
def validator(db: None) -> User:
    return _user("vera", roles.VALIDATOR)


@pytest.fixture
def risk_officer(db: None) -> User:
    return _user("rita", roles.RISK_OFFICER)


@pytest.fixture
def auditor(team: Team) -> User:
    user = _user("aldo", roles.AUDITOR)
    team.members.add(user)  # even a team member who audits changes nothing
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    return _user("ada", roles.ADMIN)


@pytest.fixture
def outsider(db: None) -> User:
    """Signed in, but without any ModelGate role."""
    return _user("otto")


@pytest.fixture
def api() -> Callable[[User | None], APIClient]:
    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make

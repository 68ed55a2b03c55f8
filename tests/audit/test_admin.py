"""The audit trail in the admin (read-only, chain verification) and the admin changes it records:
role changes through the user admin and team changes."""

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import trail
from audit.models import AuditEvent
from core import roles
from core.models import Team
from tests.factories import TeamFactory, UserFactory
from tests.helpers import admin_login as login
from tests.helpers import tamper

pytestmark = pytest.mark.django_db

EVENTS = "/admin/audit/auditevent/"


def append(n: int) -> list[AuditEvent]:
    team = TeamFactory()
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(trail.record(team, "test.event", data={"i": i}))
    return events


def messages_of(response: object) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


# --- Reading and refusing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", ["data_scientist", "validator", "risk_officer", "auditor", "admin_user"]
)
def test_every_role_reads_the_trail_and_an_event(who, request):
    (event,) = append(1)
    client = login(request.getfixturevalue(who))

    listing = client.get(EVENTS)
    detail = client.get(f"{EVENTS}{event.pk}/change/")

    assert listing.status_code == 200
    assert [e.pk for e in listing.context["cl"].result_list] == [event.pk]
    assert event.hash[:12] in listing.content.decode()
    assert detail.status_code == 200
    assert detail.context["title"] == "View audit event"


def test_a_staff_user_without_a_role_cannot_read_the_trail(outsider):
    append(1)
    client = login(outsider)
    assert client.get(EVENTS).status_code == 403
    assert client.get(f"{EVENTS}verify/").status_code == 403


def test_not_even_an_admin_adds_changes_or_deletes_an_event(admin_user):
    (event,) = append(1)
    client = login(admin_user)
    url = f"{EVENTS}{event.pk}/"

    assert client.get(f"{EVENTS}add/").status_code == 403
    assert client.post(f"{EVENTS}add/", {"action": "forged"}).status_code == 403
    assert client.post(f"{url}change/", {"action": "forged"}).status_code == 403
    assert client.get(f"{url}delete/").status_code == 403
    assert client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    assert client.get(EVENTS).context["action_form"] is None  # no "delete selected" action

    assert list(AuditEvent.objects.values_list("pk", "action", "hash")) == [
        (event.pk, "test.event", event.hash)
    ]
    assert trail.verify_chain().valid


def test_the_trail_list_costs_the_same_number_of_queries_for_3_or_30_events(auditor):
    client = login(auditor)

    def queries(events: int) -> int:
        append(events - AuditEvent.objects.count())
        with CaptureQueriesContext(connection) as captured:
            assert client.get(EVENTS).status_code == 200
        return len(captured)

    assert queries(3) == queries(30)


# --- Verifying the chain ------------------------------------------------------------------------


def test_verify_reports_a_valid_chain_with_its_count_and_head(auditor):
    events = append(3)

    response = login(auditor).get(f"{EVENTS}verify/")

    assert response.status_code == 302
    assert response["Location"] == EVENTS
    assert messages_of(response) == [
        f"Audit chain valid: 3 events (#{events[0].pk} to #{events[2].pk}), "
        f"head hash {events[2].hash}."
    ]


def test_verify_reports_the_first_bad_event_after_tampering(auditor):
    events = append(4)
    tamper("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"i": 99}', events[2].pk])

    response = login(auditor).get(f"{EVENTS}verify/", follow=True)

    (message,) = response.context["messages"]
    assert message.level_tag == "error"
    assert str(message) == (
        f"Audit chain INVALID: first bad event #{events[2].pk} "
        "(content does not match its hash: the event was changed); "
        f"2 events verified before it, last good hash {events[1].hash}."
    )


def test_the_trail_list_offers_the_verify_button(auditor):
    response = login(auditor).get(EVENTS)
    assert f'href="{EVENTS}verify/"' in response.content.decode()


# --- Role changes through the user admin --------------------------------------------------------


def user_form(user: User, *, groups: list[Group], **overrides: object) -> dict[str, object]:
    """What the user admin's change page posts back, with `groups` chosen."""
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on" if user.is_staff else "",
        "groups": [group.pk for group in groups],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        **overrides,
    }


def test_a_role_change_in_the_user_admin_is_audited(admin_user, data_scientist):
    granted = list(Group.objects.filter(name__in=[roles.DATA_SCIENTIST, roles.VALIDATOR]))

    response = login(admin_user).post(
        f"/admin/auth/user/{data_scientist.pk}/change/", user_form(data_scientist, groups=granted)
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert set(data_scientist.groups.values_list("name", flat=True)) == {
        "data scientist",
        "validator",
    }
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_username) == ("core.user.roles_changed", "ada")
    assert (event.target_type, event.target_id) == ("auth.user", str(data_scientist.pk))
    assert event.data == {
        "before": {"groups": ["data scientist"]},
        "after": {"groups": ["data scientist", "validator"]},
    }
    assert event.request_id == response["X-Request-ID"]
    assert trail.verify_chain().valid


def test_making_someone_superuser_is_a_role_change_too(admin_user, validator):
    same_groups = list(validator.groups.all())

    login(admin_user).post(
        f"/admin/auth/user/{validator.pk}/change/",
        user_form(validator, groups=same_groups, is_superuser="on"),
    )

    assert AuditEvent.objects.get().data == {
        "before": {"is_superuser": False},
        "after": {"is_superuser": True},
    }


def test_editing_a_users_email_is_audited_as_a_change_not_a_role_change(admin_user, validator):
    old_email = validator.email
    response = login(admin_user).post(
        f"/admin/auth/user/{validator.pk}/change/",
        user_form(validator, groups=list(validator.groups.all()), email="vera@new.example"),
    )

    assert response.status_code == 302
    validator.refresh_from_db()
    assert validator.email == "vera@new.example"
    event = AuditEvent.objects.get()
    assert event.action == "core.user.changed"
    assert event.data == {"before": {"email": old_email}, "after": {"email": "vera@new.example"}}


def test_creating_a_user_is_audited(admin_user):
    response = login(admin_user).post(
        "/admin/auth/user/add/",
        {
            "username": "newbie",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    newbie = User.objects.get(username="newbie")
    event = AuditEvent.objects.for_object(newbie).get()
    assert (event.action, event.actor_username) == ("core.user.created", "ada")
    assert event.data["after"]["groups"] == []
    assert "password" not in str(event.data)


def test_changing_a_password_is_audited_without_the_password(admin_user, validator):
    response = login(admin_user).post(
        f"/admin/auth/user/{validator.pk}/password/",
        {
            "password1": "another long passphrase",
            "password2": "another long passphrase",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    event = AuditEvent.objects.for_object(validator).get()
    assert event.action == "core.user.password_changed"
    assert "passphrase" not in str(event.data)


def test_deactivating_a_user_is_audited(admin_user, validator):
    response = login(admin_user).post(
        f"/admin/auth/user/{validator.pk}/change/",
        {**user_form(validator, groups=list(validator.groups.all())), "is_active": ""},
    )

    assert response.status_code == 302
    event = AuditEvent.objects.for_object(validator).get()
    assert event.action == "core.user.changed"
    assert event.data == {"before": {"is_active": True}, "after": {"is_active": False}}


def test_api_tokens_are_not_in_the_admin(admin_user):
    assert login(admin_user).get("/admin/authtoken/tokenproxy/").status_code == 404


@pytest.mark.parametrize("who", ["auditor", "data_scientist"])
def test_only_admins_change_roles(who, request, validator):
    user = request.getfixturevalue(who)
    client = login(user)
    groups = list(Group.objects.filter(name=roles.ADMIN))

    response = client.post(
        f"/admin/auth/user/{validator.pk}/change/", user_form(validator, groups=groups)
    )

    assert response.status_code == 403
    assert list(validator.groups.values_list("name", flat=True)) == ["validator"]
    assert not AuditEvent.objects.exists()
    # Auditors may still look at accounts and roles; data scientists may not.
    expected = 200 if who == "auditor" else 403
    assert client.get("/admin/auth/user/").status_code == expected
    assert client.get("/admin/auth/group/").status_code == expected


def test_role_groups_cannot_be_renamed_or_deleted(admin_user):
    group = Group.objects.get(name=roles.AUDITOR)
    client = login(admin_user)

    assert client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "x"}).status_code == 403
    assert client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post("/admin/auth/group/add/", {"name": "root"}).status_code == 403
    assert Group.objects.filter(name=roles.AUDITOR).exists()


# --- Teams --------------------------------------------------------------------------------------


def test_an_admin_creates_a_team_and_changes_its_members_with_both_audited(admin_user):
    dana, omar = UserFactory(username="dana"), UserFactory(username="omar")
    client = login(admin_user)

    created = client.post(
        "/admin/core/team/add/", {"name": "fraud", "title": "Fraud", "members": [dana.pk]}
    )
    team = Team.objects.get(name="fraud")
    changed = client.post(
        f"/admin/core/team/{team.pk}/change/",
        {"name": "renamed", "title": "Fraud", "members": [omar.pk]},
    )

    assert (created.status_code, changed.status_code) == (302, 302)
    team.refresh_from_db()
    assert team.name == "fraud"  # read-only once created
    assert list(team.members.values_list("username", flat=True)) == ["omar"]
    first, second = AuditEvent.objects.for_object(team).order_by("id")
    assert (first.action, first.data) == (
        "core.team.created",
        {"after": {"name": "fraud", "title": "Fraud", "members": ["dana"]}},
    )
    assert (second.action, second.data) == (
        "core.team.changed",
        {"before": {"members": ["dana"]}, "after": {"members": ["omar"]}},
    )


@pytest.mark.parametrize("who", ["data_scientist", "auditor"])
def test_only_admins_add_or_change_teams_and_nobody_deletes_one(who, request, admin_user, team):
    client = login(request.getfixturevalue(who))

    assert client.post("/admin/core/team/add/", {"name": "fraud"}).status_code == 403
    assert client.post(f"/admin/core/team/{team.pk}/change/", {"title": "x"}).status_code == 403
    assert (
        login(admin_user).post(f"/admin/core/team/{team.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    team.refresh_from_db()
    assert team.title == "Credit risk"
    assert not Team.objects.filter(name="fraud").exists()
    assert not AuditEvent.objects.exists()

"""Create the five role groups. What each role may do is decided in code (core.roles and the
services), not by Django model permissions, so the API, the admin and the commands agree."""

from django.db import migrations

ROLES = ("data scientist", "validator", "risk officer", "auditor", "admin")


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_roles, remove_roles)]

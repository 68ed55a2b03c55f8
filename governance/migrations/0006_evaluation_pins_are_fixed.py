"""An evaluation's pins (the policy versions and assessments it used) are written before its
check results and never after: once an evaluation has check results, the database refuses a new
pin. (0004 already refuses UPDATE, and DELETE on PostgreSQL.)"""

from django.db import migrations

PINS = ("governance_policyevaluation_policy_versions", "governance_policyevaluation_assessments")
MESSAGE = "the pins of an evaluation are fixed once its check results are written"

POSTGRES = [
    f"""
CREATE OR REPLACE FUNCTION governance_refuse_late_pin() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM governance_checkresult WHERE evaluation_id = NEW.policyevaluation_id)
    THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;""",
    *(
        f"""
CREATE TRIGGER {table}_fixed BEFORE INSERT ON {table}
    FOR EACH ROW EXECUTE FUNCTION governance_refuse_late_pin();"""
        for table in PINS
    ),
]
POSTGRES_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {table}_fixed ON {table};" for table in PINS),
    "DROP FUNCTION IF EXISTS governance_refuse_late_pin();",
]
SQLITE = [
    f"""
CREATE TRIGGER {table}_fixed BEFORE INSERT ON {table}
WHEN EXISTS (SELECT 1 FROM governance_checkresult WHERE evaluation_id = NEW.policyevaluation_id)
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END;"""
    for table in PINS
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS {table}_fixed;" for table in PINS]


def _run(schema_editor, statements):
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, POSTGRES)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, POSTGRES_BACKWARD)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("governance", "0005_notifications")]

    operations = [migrations.RunPython(forward, backward)]

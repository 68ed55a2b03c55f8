"""A finished assessment is evidence that policies and dossiers cite by id and digest, so the
database refuses to change it, whatever the application does: on PostgreSQL and SQLite an UPDATE
of a succeeded or failed assessment is refused, and on PostgreSQL also a DELETE of any
assessment and any change to a stored chart. (SQLite keeps DELETE, which the test runner's flush
uses; the ORM refuses it on every database.)"""

from django.db import migrations

POSTGRES = """
CREATE OR REPLACE FUNCTION governance_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is immutable evidence: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER governance_assessment_finished_immutable
    BEFORE UPDATE ON governance_assessment
    FOR EACH ROW WHEN (OLD.status IN ('succeeded', 'failed'))
    EXECUTE FUNCTION governance_refuse_change();
CREATE TRIGGER governance_assessment_no_delete
    BEFORE DELETE ON governance_assessment
    FOR EACH ROW EXECUTE FUNCTION governance_refuse_change();
CREATE TRIGGER governance_assessmentchart_immutable
    BEFORE UPDATE OR DELETE ON governance_assessmentchart
    FOR EACH ROW EXECUTE FUNCTION governance_refuse_change();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS governance_assessment_finished_immutable ON governance_assessment;
DROP TRIGGER IF EXISTS governance_assessment_no_delete ON governance_assessment;
DROP TRIGGER IF EXISTS governance_assessmentchart_immutable ON governance_assessmentchart;
DROP FUNCTION IF EXISTS governance_refuse_change();
"""
SQLITE = """
CREATE TRIGGER governance_assessment_finished_immutable
BEFORE UPDATE ON governance_assessment
WHEN OLD.status IN ('succeeded', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'governance_assessment is immutable evidence: UPDATE refused');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS governance_assessment_finished_immutable;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_assessments")]

    operations = [migrations.RunPython(forward, backward)]

"""The database's own guards for the governance records, whatever the application does:

- evidence is immutable: policy versions, evaluations and their check results (and what they
  are pinned to), reviews and stage changes refuse UPDATE (and DELETE on PostgreSQL; SQLite keeps
  DELETE for the test runner's flush, which the ORM still refuses);
- separation of duties: a review by the request's requester or by the version's registrant is
  refused on INSERT;
- a model version's stage changes only together with a stage-change row that records it: an
  UPDATE of `stage` must match the latest row of governance_stagechange for that version.
"""

from django.db import migrations

IMMUTABLE = (
    "governance_policyversion",
    "governance_policyevaluation",
    "governance_policyevaluation_policy_versions",
    "governance_policyevaluation_assessments",
    "governance_checkresult",
    "governance_review",
    "governance_stagechange",
)

SOD_MESSAGE = (
    "separation of duties: the requester and the version registrant cannot review this request"
)
STAGE_MESSAGE = (
    "the stage of a model version changes only through the promotion service "
    "(no matching governance_stagechange row)"
)

POSTGRES = (
    [
        f"""
CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION governance_refuse_change();"""
        for table in IMMUTABLE
    ]
    + [
        f"""
CREATE OR REPLACE FUNCTION governance_review_separation_of_duties() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM governance_promotionrequest pr
        JOIN registry_modelversion mv ON mv.id = pr.model_version_id
        WHERE pr.id = NEW.request_id
          AND (pr.requested_by_id = NEW.reviewer_id OR mv.created_by_id = NEW.reviewer_id)
    ) THEN
        RAISE EXCEPTION '{SOD_MESSAGE}' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;""",
        """
CREATE TRIGGER governance_review_separation_of_duties BEFORE INSERT ON governance_review
    FOR EACH ROW EXECUTE FUNCTION governance_review_separation_of_duties();""",
        f"""
CREATE OR REPLACE FUNCTION registry_modelversion_stage_guard() RETURNS trigger AS $$
DECLARE latest RECORD;
BEGIN
    SELECT from_stage, to_stage INTO latest FROM governance_stagechange
        WHERE model_version_id = NEW.id ORDER BY id DESC LIMIT 1;
    IF NOT FOUND OR latest.to_stage <> NEW.stage OR latest.from_stage <> OLD.stage THEN
        RAISE EXCEPTION '{STAGE_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;""",
        """
CREATE TRIGGER registry_modelversion_stage_guard BEFORE UPDATE OF stage ON registry_modelversion
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION registry_modelversion_stage_guard();""",
    ]
)
POSTGRES_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table};" for table in IMMUTABLE),
    "DROP TRIGGER IF EXISTS governance_review_separation_of_duties ON governance_review;",
    "DROP FUNCTION IF EXISTS governance_review_separation_of_duties();",
    "DROP TRIGGER IF EXISTS registry_modelversion_stage_guard ON registry_modelversion;",
    "DROP FUNCTION IF EXISTS registry_modelversion_stage_guard();",
]

SQLITE = [
    *(
        f"""
CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table}
BEGIN
    SELECT RAISE(ABORT, '{table} is immutable evidence: UPDATE refused');
END;"""
        for table in IMMUTABLE
    ),
    f"""
CREATE TRIGGER governance_review_separation_of_duties BEFORE INSERT ON governance_review
WHEN EXISTS (
    SELECT 1 FROM governance_promotionrequest pr
    JOIN registry_modelversion mv ON mv.id = pr.model_version_id
    WHERE pr.id = NEW.request_id
      AND (pr.requested_by_id = NEW.reviewer_id OR mv.created_by_id = NEW.reviewer_id)
)
BEGIN
    SELECT RAISE(ABORT, '{SOD_MESSAGE}');
END;""",
    f"""
CREATE TRIGGER registry_modelversion_stage_guard BEFORE UPDATE OF stage ON registry_modelversion
WHEN OLD.stage IS NOT NEW.stage AND NOT EXISTS (
    SELECT 1 FROM (
        SELECT from_stage, to_stage FROM governance_stagechange
        WHERE model_version_id = NEW.id ORDER BY id DESC LIMIT 1
    ) latest
    WHERE latest.to_stage = NEW.stage AND latest.from_stage = OLD.stage
)
BEGIN
    SELECT RAISE(ABORT, '{STAGE_MESSAGE}');
END;""",
]
SQLITE_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {table}_immutable;" for table in IMMUTABLE),
    "DROP TRIGGER IF EXISTS governance_review_separation_of_duties;",
    "DROP TRIGGER IF EXISTS registry_modelversion_stage_guard;",
]


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
    dependencies = [
        ("governance", "0003_policies_and_promotions"),
        ("registry", "__first__"),
    ]

    operations = [migrations.RunPython(forward, backward)]

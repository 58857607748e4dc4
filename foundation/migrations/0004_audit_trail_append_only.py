# The chain fields become required, and PostgreSQL itself refuses to change audit history: a statement-level
# trigger rejects every UPDATE, DELETE and TRUNCATE of the table, whoever issues it (only the table's owner can
# disable it, which `manage.py audit_verify` would then catch). SQLite has no such trigger; the ORM refuses there.

from django.db import migrations, models

TABLE = "portal_auditevent"
CREATE = f"""
CREATE FUNCTION portico_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER portico_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION portico_audit_append_only();
"""
DROP = f"""
DROP TRIGGER IF EXISTS portico_audit_append_only ON {TABLE};
DROP FUNCTION IF EXISTS portico_audit_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: the RAISE format uses %

    return run


class Migration(migrations.Migration):
    dependencies = [("foundation", "0003_audit_chain_fill")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(unique=True),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("organisation", "org_seq"), name="foundation_audit_org_seq_unique"),
        ),
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP)),
    ]

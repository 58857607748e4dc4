# Links the events recorded before the chains existed, oldest first, and sets the chain heads.

from django.db import migrations

from foundation.audit_chain import GENESIS, GLOBAL, entry_hash, org_chain


def fill(apps, schema_editor):
    event_model = apps.get_model("foundation", "AuditEvent")
    head_model = apps.get_model("foundation", "AuditChainHead")
    last, org_last = (0, GENESIS), {}
    for event in event_model.objects.order_by("id").iterator(chunk_size=2000):
        event.seq, event.prev_hash = last[0] + 1, last[1]
        if event.organisation_id is not None:
            event.org_seq, event.org_prev_hash = org_last.get(event.organisation_id, (0, GENESIS))
            event.org_seq += 1
        event.entry_hash = entry_hash(event)
        event.save(update_fields=["seq", "prev_hash", "org_seq", "org_prev_hash", "entry_hash"])
        last = (event.seq, event.entry_hash)
        if event.organisation_id is not None:
            org_last[event.organisation_id] = (event.org_seq, event.entry_hash)
    heads = [head_model(chain=GLOBAL, seq=last[0], entry_hash=last[1])]
    heads += [head_model(chain=org_chain(org), seq=seq, entry_hash=h) for org, (seq, h) in org_last.items()]
    head_model.objects.bulk_create(heads)


class Migration(migrations.Migration):
    dependencies = [("foundation", "0002_audit_chain_fields")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]

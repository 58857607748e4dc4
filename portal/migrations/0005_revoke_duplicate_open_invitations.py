# Before invitations get one open link per person (0006), revoke the older duplicates.

from django.db import migrations
from django.utils import timezone


def _revoke_all_but_the_newest(apps, schema_editor):
    """Databases from before the rule may hold several open invitations per person: keep the newest."""
    invitation = apps.get_model("portal", "Invitation")
    open_ones = invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True).order_by("-created_at")
    seen = set()
    for row in open_ones:
        key = (row.organisation_id, row.email.lower())
        if key in seen:
            invitation.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [("portal", "0004_plan_limits_validated_and_unpublished_by_default")]

    operations = [migrations.RunPython(_revoke_all_but_the_newest, migrations.RunPython.noop)]

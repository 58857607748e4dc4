# One open invitation per person and organisation.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("portal", "0005_revoke_duplicate_open_invitations")]

    operations = [
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("accepted_at__isnull", True), ("revoked_at__isnull", True)),
                fields=("organisation", "email"),
                name="invitation_one_open_per_email",
            ),
        ),
    ]

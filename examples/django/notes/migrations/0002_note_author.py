"""Add Note.author — the "expand" step: nullable, so the running version keeps working.

The migration runs before the new code is deployed, and old and new tasks serve side by side
during the rolling deploy: the old code inserts notes without an author, which a NOT NULL column
(without a database default) would refuse. The worker backfills old rows; a later "contract"
migration may make the column required once no running version writes without it.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]

    operations = [
        migrations.AddField(model_name="note", name="author", field=models.TextField(blank=True, null=True)),
    ]

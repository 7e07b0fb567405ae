from __future__ import annotations

from django.db import migrations

from recovery.proms.loading import load_shipped


class Migration(migrations.Migration):
    dependencies = [("proms", "0001_initial")]

    # Reversing leaves the rows: responses point at the instruments.
    operations = [migrations.RunPython(load_shipped, migrations.RunPython.noop)]

from __future__ import annotations

from django.db import migrations

from recovery.rehab.library import load_library


class Migration(migrations.Migration):
    dependencies = [("rehab", "0001_initial")]

    # Reversing keeps the rows: assignments may point at shipped exercises.
    operations = [migrations.RunPython(load_library, migrations.RunPython.noop)]

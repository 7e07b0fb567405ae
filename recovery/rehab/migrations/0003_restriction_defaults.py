from __future__ import annotations

from django.db import migrations

from recovery.rehab.defaults import load_restriction_defaults


class Migration(migrations.Migration):
    dependencies = [("rehab", "0002_exercise_library"), ("episodes", "0002_procedures")]

    operations = [migrations.RunPython(load_restriction_defaults, migrations.RunPython.noop)]

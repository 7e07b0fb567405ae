from __future__ import annotations

from typing import Any

from django.db import migrations

# The controlled list of procedures Mobilize ships with (issue: foundation). Clinics may add rows.
PROCEDURES = [
    ("lumbar_microdiscectomy", "Lumbar microdiscectomy", "lumbar"),
    ("tubular_discectomy", "Tubular discectomy", "lumbar"),
    ("full_endoscopic_discectomy", "Full-endoscopic discectomy", "lumbar"),
    ("mis_lumbar_decompression", "MIS lumbar decompression", "lumbar"),
    ("mis_tlif", "MIS transforaminal lumbar interbody fusion (MIS-TLIF)", "lumbar"),
    ("acdf", "Anterior cervical discectomy and fusion (ACDF)", "cervical"),
]


def add_procedures(apps: Any, schema_editor: Any) -> None:
    procedure = apps.get_model("episodes", "Procedure")
    for code, name, region in PROCEDURES:
        procedure.objects.update_or_create(code=code, defaults={"name": name, "region": region})


class Migration(migrations.Migration):
    dependencies = [("episodes", "0001_initial")]

    operations = [migrations.RunPython(add_procedures, migrations.RunPython.noop)]

"""FHIR R4 as plain dicts: codes, stable ids, export builders and the import parser. No ORM queries
and no third-party FHIR library here (tests validate the output with ``fhir.resources``)."""

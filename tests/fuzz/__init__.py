"""Helpers for the schema fuzzer (tests/test_fuzz.py): seeded records, personas and extra checks."""

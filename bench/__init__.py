"""Benchmarks that print ratios (``make bench``, i.e. ``python -m bench``).

A benchmark reports; it does not assert. It exits non-zero only when something breaks (a server
that does not start, a response other than the expected status), never because a ratio is low.
"""

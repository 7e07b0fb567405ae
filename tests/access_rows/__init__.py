"""Access-matrix rows of each feature; ``tests/test_access_matrix.py`` collects every module here.

Each module defines ``ROWS: list[Row]`` (import ``Row`` from ``tests.test_access_matrix``)."""

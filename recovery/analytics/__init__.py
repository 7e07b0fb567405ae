"""Numbers and trajectories: pure functions over pandas DataFrames.

Nothing in this package touches the ORM or the clock. Selectors fetch the rows, build the frames
and call these functions, so every number can be tested from hand-made frames without a database.
"""

"""`make bench` (`python -m scripts.bench`, see __main__.py): the render's cost against the Pulumi SDK's own.

`replay.py` re-registers a render's resources through the SDK alone (the baseline); `waits.py` finds the longest
chain of health waits a first `pulumi up` goes through. Both serve the benchmark only, so they live here and not in
`plan/`, which holds what `python -m plan` runs.
"""

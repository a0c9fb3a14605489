"""Reliability suite: fault injection on a real broker, fuzzing, isolation, log hygiene.

The same scenarios run in CI (small sizes, `pytest`) and in `make soak` (large sizes,
`python -m tests.reliability.soak`, which prints the figures of docs/reliability.md).
"""

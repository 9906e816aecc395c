"""segflow's benchmark: payload, cost and speed beside the designs it replaces, in one run (``make bench``).

One concept per module: :mod:`~bench.workflows` (the workflows), :mod:`~bench.baselines` (the other designs:
state machines and handlers), :mod:`~bench.harness` (running and measuring one execution),
:mod:`~bench.history` (history metrics and quotas), :mod:`~bench.requests` (AWS request counting),
:mod:`~bench.invocations` (Lambda invocations), :mod:`~bench.costs` (prices), :mod:`~bench.partition_time`,
:mod:`~bench.imports` (cold imports, asset size), :mod:`~bench.emulator` (speed-ups of the embedded AWS),
:mod:`~bench.report` (tables and docs/benchmarks.md), :mod:`~bench.run` (the whole run).
"""

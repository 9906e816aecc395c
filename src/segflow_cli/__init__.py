"""The ``segflow`` command line and the client it uses (also used by tests, the demo and benchmarks)."""

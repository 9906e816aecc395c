"""The engine: partitioning, segments, stages, an execution's start and end. No AWS in here: what it stores
and calls is behind the Protocols of ``ports.py``."""

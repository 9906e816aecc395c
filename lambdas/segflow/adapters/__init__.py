"""Every adapter to AWS and model endpoints, one per table, bucket or service; the engine and node types see
them only through their Protocols (``engine/ports.py``, ``nodes/services.py``), wired by ``factory``."""

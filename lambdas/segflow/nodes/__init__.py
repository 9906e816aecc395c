"""Node types: one module per type, all listed in ``registry.py``."""

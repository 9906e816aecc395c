"""Workflow versions: immutable published definitions, the active-version pointer and rollback."""

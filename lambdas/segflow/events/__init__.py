"""Execution events: the execution log's model and the live-events WebSocket protocol."""

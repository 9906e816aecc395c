"""Shared test helpers: the embedded AWS, a local HTTP server, workflow builders."""

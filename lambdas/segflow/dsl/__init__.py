"""The workflow DSL: pydantic models, ``{{ expr }}`` templates and validation."""

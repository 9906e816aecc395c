"""How the CLI shows things: text and JSON output, tables, the live node table; no command logic, no AWS."""

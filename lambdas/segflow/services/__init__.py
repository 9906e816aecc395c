"""Services: what segflow's entry points do, once (the management API handler and the CLI call them)."""

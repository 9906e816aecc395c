"""The embedded local AWS: moto running segflow's real ASL, Lambda invokes dispatched to the real handlers."""

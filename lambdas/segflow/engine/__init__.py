"""The engine: partitioner, plan, segment runner and stage advancing. No AWS calls in here."""

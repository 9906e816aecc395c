"""The Lambda entry points, one module per function: parse the event, call a service, shape the answer."""

"""The management HTTP API: request and response models, caller identity, and the routes' logic."""

"""Model deployments: the ``deploy/model`` node's config, SageMaker naming and deployment policies."""

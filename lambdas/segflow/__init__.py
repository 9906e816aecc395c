"""segflow: the code that runs inside the Lambda functions (domain, stores, handlers)."""

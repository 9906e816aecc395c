"""LLM chat: the ``llm_chat`` node's config, its answer schemas and the chat providers' request shapes."""

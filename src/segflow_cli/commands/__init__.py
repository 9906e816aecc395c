"""The ``segflow`` commands, one module per group; each adds its subcommands with ``add_commands``."""

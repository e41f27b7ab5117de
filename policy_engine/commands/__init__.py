"""One module per CLI command; listed in policy_engine.cli.COMMANDS."""

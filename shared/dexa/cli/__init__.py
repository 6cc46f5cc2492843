"""The `dexa` command."""

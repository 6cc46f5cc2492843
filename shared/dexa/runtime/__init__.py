"""Assembly of a session's environment from settings files, memory and tools (no adapter choices here)."""

"""Claude Code's headless mode as Dexa speaks it, for every surface that offers it.

A turn driven to its end (turns), its events as stream-json lines and the `result` object (wire), what a run
measures (usage), and file flags given as inline JSON (json_flags). `dexa run -p`, the stream-json session (both
dexa.cli) and `dexa acp` use it; it imports no surface, so the CLI can mount `dexa acp` without a cycle.
"""

"""Moving a session between Dexa homes: `dexa pull` brings a server's session here, `dexa push` sends one back.

tokens.py     short-lived export tokens, scoped to one session (kept in the Store, so any API container verifies)
workspace.py  the workspace as it is: a git bundle of the session branch plus the files that differ from it, or a
              tree snapshot; and its materialization, byte for byte and mode for mode
bundle.py     the session document: conversation, events, checkpoints (with their blobs), permission state
"""

"""Dexa: a hosted, durable, general-purpose Claude agent runtime.

Kept free of eager imports so `stacks/` and Lambda shims can import pure submodules cheaply.
"""

__version__ = "0.1.0"

"""Test doubles shipped with Dexa: scripted models and a loopback Messages-API server.

Names are exported lazily so importing `dexa.testing` costs nothing until a double is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages_api import FakeMessagesServer, serve
    from .script import Script, Turn
    from .scripted import FunctionModel, ScriptedModel, UnexpectedModelCall, reply, text, thinking, tool_use

_EXPORTS: dict[str, str] = {
    "ScriptedModel": ".scripted",
    "FunctionModel": ".scripted",
    "UnexpectedModelCall": ".scripted",
    "text": ".scripted",
    "thinking": ".scripted",
    "tool_use": ".scripted",
    "reply": ".scripted",
    "Script": ".script",
    "Turn": ".script",
    "serve": ".messages_api",
    "FakeMessagesServer": ".messages_api",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dexa.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "FakeMessagesServer",
    "FunctionModel",
    "Script",
    "ScriptedModel",
    "Turn",
    "UnexpectedModelCall",
    "reply",
    "serve",
    "text",
    "thinking",
    "tool_use",
]

"""Test doubles shipped with Dexa: scripted models and a loopback Messages-API server.

Names are exported lazily so importing `dexa.testing` costs nothing until a double is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)


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

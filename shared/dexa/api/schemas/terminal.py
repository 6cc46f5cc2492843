"""The workspace terminal's ticket (browsers cannot set headers on a WebSocket) and its message shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TerminalTicket(BaseModel):
    ticket: str = Field(description="Single use, valid for a minute: pass it as ?ticket= when opening the WebSocket")
    expires_at: float
    url: str = Field(description="The WebSocket URL with the ticket in its query string")


class TerminalInput(BaseModel):
    """Client -> server, one JSON text frame each."""

    type: Literal["input", "resize", "close"]
    data: str = Field(default="", max_length=65_536, description="input: keystrokes / pasted text")
    cols: int = Field(default=80, ge=1, le=1000)
    rows: int = Field(default=24, ge=1, le=1000)

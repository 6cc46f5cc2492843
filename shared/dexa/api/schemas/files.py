"""Answers of the workspace file routes: a directory listing, a text file, text matches and symbols."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FileEntryPublic(BaseModel):
    name: str
    path: str = Field(description="Relative to the session's working directory")
    type: Literal["file", "directory", "symlink", "other"]
    size: int | None = Field(default=None, description="Bytes, for regular files")
    ignored: bool = Field(default=False, description="Matched by a .gitignore (listed only with ignored=true)")


class FilesPublic(BaseModel):
    path: str = Field(description="The listed directory, relative to the working directory ('' for itself)")
    data: list[FileEntryPublic]
    count: int
    truncated: bool = False


class FileContentPublic(BaseModel):
    path: str
    content: str
    size: int = Field(description="Bytes read")
    encoding: Literal["utf-8"] = "utf-8"


class SearchMatchPublic(BaseModel):
    path: str
    line: int = Field(ge=0)
    text: str


class SearchPublic(BaseModel):
    data: list[SearchMatchPublic]
    count: int
    truncated: bool
    engine: Literal["ripgrep", "python"] = Field(description="The Grep tool's engine that answered")


class SymbolPublic(BaseModel):
    name: str
    kind: str = Field(description="function, class, method, type, interface, ... as the engine names it")
    path: str
    line: int = Field(ge=0)
    scope: str = ""


class SymbolsPublic(BaseModel):
    data: list[SymbolPublic]
    count: int
    truncated: bool
    engine: Literal["ctags", "regex"] = Field(
        description="ctags: Universal Ctags inside the workspace; regex: Dexa's finder for Python, JS/TS and Go"
    )

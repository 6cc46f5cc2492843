"""Finding `@dexa` in a comment and turning the comment into a task.

Only live text counts: a mention inside a quote (`> ...`), a fenced code block or inline code is someone talking
*about* Dexa, not to it, so it never starts a session (this also stops Dexa's own quoted replies from looping).
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")


def _mention(handle: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@/.-])@{re.escape(handle)}(?![\w-])", re.IGNORECASE)


def live_lines(body: str) -> list[str]:
    """Lines outside quotes and code fences, with inline code removed."""
    out, fenced = [], False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith(">"):
            continue
        out.append(_INLINE_CODE.sub("", line))
    return out


def extract_task(body: str, *, handle: str = "dexa") -> str | None:
    """The request addressed to `@handle`, with the mention removed; None when the comment does not mention it.

    Code (fenced or inline) stays in the task verbatim; quoted lines are dropped (they are someone else's words).
    """
    pattern = _mention(handle)
    if not any(pattern.search(line) for line in live_lines(body or "")):
        return None
    kept, fenced = [], False
    for line in (body or "").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.lstrip().startswith(">"):
            continue
        elif not fenced:
            line = pattern.sub("", line).strip()
        kept.append(line)
    text = "\n".join(kept).strip()
    return re.sub(r"^[,:;\s-]+", "", text).strip()

"""`dexa checkpoints gc`: reclaim checkpoint blob space.

Expires checkpoints older than the retention period (Claude Code's `cleanupPeriodDays` in the user settings,
default 30 days; whole delta chains only), deletes the blobs they alone referenced, then sweeps the local blob store
for content no remaining checkpoint references (interrupted runs, deleted sessions). Prints what it freed.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated, Any

import typer

from dexa.core.errors import ConfigError, DexaError

app = typer.Typer(
    help="Manage checkpoint storage.", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
)

DEFAULT_TTL_DAYS = 30.0


def cleanup_period_days(env: dict[str, str] | None = None) -> float:
    """`cleanupPeriodDays` from the user settings file (an int >= 1, as Claude Code validates it), else 30."""
    from dexa.config.locations import user_config_dir

    env = dict(os.environ) if env is None else env
    path = os.path.join(user_config_dir(os.path.expanduser("~"), env), "settings.json")
    try:
        with open(path, encoding="utf-8") as fh:
            data: Any = json.load(fh)
    except FileNotFoundError:
        return DEFAULT_TTL_DAYS
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    value = data.get("cleanupPeriodDays") if isinstance(data, dict) else None
    if value is None:
        return DEFAULT_TTL_DAYS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{path}: cleanupPeriodDays must be an integer >= 1, got {value!r}")
    return float(value)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@app.command()
def gc(
    older_than_days: Annotated[
        float | None,
        typer.Option("--older-than-days", min=0, help="Expire checkpoints older than this (default cleanupPeriodDays)"),
    ] = None,
    grace_seconds: Annotated[
        float,
        typer.Option("--grace-seconds", min=0, help="Keep unreferenced blobs younger than this (a run may be storing)"),
    ] = 3600.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Expire old checkpoints and delete blobs no checkpoint references; prints what was freed."""
    from dexa.cli.rewind_cmd import service_for_runtime
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    try:
        days = cleanup_period_days() if older_than_days is None else older_than_days
    except DexaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def main() -> dict[str, Any]:
        runtime = build_runtime(get_settings())
        try:
            service = service_for_runtime(runtime)
            expired = await service.expire(days)
            swept = await service.sweep(grace_s=grace_seconds)
        finally:
            await runtime.aclose()
        return {
            "older_than_days": days,
            "expired_checkpoints": expired["deleted"],
            "expired_sessions": expired["sessions"],
            "deleted_blobs": expired["gc"]["deleted_blobs"] + swept["deleted_blobs"],
            "freed_bytes": expired["gc"]["freed_bytes"] + swept["freed_bytes"],
            "kept_blobs": swept["kept"],
        }

    try:
        report = asyncio.run(main())
    except DexaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(
        f"expired {report['expired_checkpoints']} checkpoints older than {days:g} days "
        f"from {len(report['expired_sessions'])} sessions"
    )
    typer.echo(
        f"freed {human_bytes(report['freed_bytes'])} ({report['deleted_blobs']} blobs no checkpoint references); "
        f"kept {report['kept_blobs']} blobs"
    )

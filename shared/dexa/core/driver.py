"""The in-process driver: walks a session's durable steps until it is idle or parked on an approval."""

from __future__ import annotations

import asyncio
import logging

from .claims import SessionClaims
from .engine import TurnEngine
from .errors import DexaError, EnvironmentBuildError
from .session import Session

logger = logging.getLogger(__name__)

POLL_S = 0.5  # approvals may arrive from another process (CLI + server share the store)


class InProcessDriver:
    def __init__(self, engine: TurnEngine, *, claims: SessionClaims | None = None) -> None:
        self.engine = engine
        # Another process on the same store (a second `dexa serve`, `dexa run`) may drive the same session.
        self.claims = claims if claims is not None else SessionClaims(engine.store)
        self._tasks: dict[str, asyncio.Task[Session]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, session_id: str, *, wait_for_approvals: bool = True) -> Session:
        """Drive until the turn ends. Parked on an approval, wait for it unless wait_for_approvals is False."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            if not await self.claims.acquire(session_id):
                logger.info("session %s is being driven by another process; not driving it here", session_id)
                return await self.engine.store.get_session(session_id)
            try:
                await self._drive(session_id, wait_for_approvals=wait_for_approvals)
            except GeneratorExit:  # closed with its loop gone: nothing may be awaited; close() frees the claim
                raise
            except BaseException:
                await self.claims.release(session_id)
                raise
            await self.claims.release(session_id)
        return await self.engine.store.get_session(session_id)

    async def _drive(self, session_id: str, *, wait_for_approvals: bool) -> None:
        while True:
            try:
                result = await self.engine.step(session_id)
            except asyncio.CancelledError:
                await asyncio.shield(self.engine.finish_cancelled(session_id))
                raise
            except EnvironmentBuildError as exc:
                # Nothing of the turn ran: say why and hand the session back, so a fixed workspace can retry.
                logger.error("session %s: %s", session_id, exc)
                await self.engine.fail_turn(
                    session_id, subtype="error_during_execution", error=str(exc), code=exc.code, status="idle"
                )
                break
            except DexaError as exc:
                logger.exception("step failed for session %s", session_id)
                await self.engine.fail_turn(session_id, subtype="error_during_execution", error=str(exc))
                break
            except Exception as exc:  # a bug in a step must end the turn visibly, not kill the driver
                logger.exception("step crashed for session %s", session_id)
                await self.engine.fail_turn(
                    session_id,
                    subtype="error_during_execution",
                    error=f"internal error: {type(exc).__name__}: {exc}",
                )
                break
            await self.claims.renew(session_id)
            if result == "done":
                # A prompt submitted while this task was finishing would otherwise find start() returning
                # this very task and never run: pick up any turn queued in the meantime.
                fresh = await self.engine.store.get_session(session_id)
                if fresh.turn_state is not None and fresh.status == "running":
                    continue
                break
            if result == "wait":
                if not wait_for_approvals:
                    break
                await self.engine.notifier.wait(f"approval:{session_id}", POLL_S)

    def start(self, session_id: str) -> asyncio.Task[Session]:
        """Drive in the background (server mode). One task per session."""
        task = self._tasks.get(session_id)
        if task is not None and not task.done():
            return task
        task = asyncio.create_task(self.run(session_id), name=f"dexa-turn-{session_id}")
        self._tasks[session_id] = task
        task.add_done_callback(
            lambda t: self._tasks.pop(session_id, None) if self._tasks.get(session_id) is t else None
        )
        return task

    def is_running(self, session_id: str) -> bool:
        task = self._tasks.get(session_id)
        return task is not None and not task.done()

    async def cancel(self, session_id: str) -> None:
        await self.engine.request_cancel(session_id)
        task = self._tasks.get(session_id)
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # the cancelled turn's outcome is already recorded
                pass
        else:
            session = await self.engine.store.get_session(session_id)
            if session.turn_state is not None:
                await self.engine.finish_cancelled(session_id)

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self.claims.close()

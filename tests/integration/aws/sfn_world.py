"""The handle a Step Functions test gets: store, engine, driver, runner and moto's Step Functions client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dexa.adapters.aws.sfn import SfnTurnDriver
from dexa.adapters.aws.tasks import TaskRunner
from dexa.core.engine import TurnEngine
from dexa.core.ports import Store
from dexa.testing.scripted import ScriptedModel


@dataclass
class World:
    store: Store
    engine: TurnEngine
    driver: SfnTurnDriver
    runner: TaskRunner
    model: ScriptedModel
    sfn: Any
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    session_id: str = "ses_1"

    async def start(self, prompt: str = "go") -> str:
        await self.engine.submit(self.session_id, prompt)
        return await self.driver.start_turn(self.session_id)

    def wait(
        self,
        arn: str,
        *,
        timeout_s: float = 30.0,
        until: Callable[[dict[str, Any]], bool] = lambda d: d["status"] != "RUNNING",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self.sfn.describe_execution(executionArn=arn)
            if until(info):
                return info
            time.sleep(0.02)
        raise AssertionError(f"execution {arn} still {info['status']} after {timeout_s}s")

    def history(self, arn: str) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]

"""LazyClient (dexa.adapters.aws.clients): an AWS client made on its first use, and only once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dexa.adapters.aws import clients
from dexa.adapters.aws.clients import LazyClient


def test_nothing_is_made_until_used_then_one_client_serves_every_use(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, str | None, dict[str, Any]]] = []

    class Fake:
        def describe_execution(self, **kwargs: Any) -> dict[str, Any]:
            return {"status": "RUNNING", **kwargs}

    def fake_client(service: str, *, region: str | None = None, **kwargs: Any) -> Fake:
        made.append((service, region, kwargs))
        return Fake()

    monkeypatch.setattr(clients, "aws_client", fake_client)
    lazy = LazyClient("stepfunctions", region="eu-west-1", config="c")
    assert not lazy.made and made == []
    threads = [threading.Thread(target=lambda: lazy.describe_execution(executionArn="a")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lazy.describe_execution(executionArn="x") == {"status": "RUNNING", "executionArn": "x"}
    assert made == [("stepfunctions", "eu-west-1", {"config": "c"})] and lazy.made


def test_a_lazy_client_is_the_real_client_once_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    lazy = LazyClient("stepfunctions", region="us-east-2")
    assert lazy.meta.region_name == "us-east-2" and lazy.meta.service_model.service_name == "stepfunctions"
    assert lazy.exceptions.ExecutionAlreadyExists.__name__ == "ExecutionAlreadyExists"
    with pytest.raises(AttributeError):
        _ = lazy.no_such_operation


def test_the_step_functions_driver_makes_its_client_on_the_first_call() -> None:
    from dexa.adapters.aws.sfn import SfnTurnDriver

    class Engine:
        store = None

    env = {"AWS_REGION": "us-east-1", "DEXA_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:t"}
    driver = SfnTurnDriver.from_env(Engine(), env)  # pyright: ignore[reportArgumentType]
    assert isinstance(driver._sfn, LazyClient) and not driver._sfn.made  # pyright: ignore[reportPrivateUsage]
    assert driver.approvals._sfn is driver._sfn  # pyright: ignore[reportPrivateUsage]

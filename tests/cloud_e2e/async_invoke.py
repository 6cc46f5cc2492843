"""Lambda's asynchronous invocation (InvocationType Event), as EventBridge Scheduler, EventBridge rules and SES use it.

The caller gets 202 at once; Lambda queues the event and runs it. A function error (or a dead runtime, or a
timeout) is retried: by default twice, waiting about one minute before the second attempt and two before the third
(the function's event invoke config may set fewer retries and a maximum event age). An event that still fails, or
grows too old, goes to the config's on-failure destination (here an SQS queue) as Lambda's invocation record. The
waits are scaled by `time_scale` for the test; everything else is as the template configures it in moto.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lambda_emulator import LambdaEmulator

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 6 * 3600
RETRY_WAITS_S = (60.0, 120.0)  # before the second attempt, and before the third


@dataclass
class AsyncEvent:
    """One queued event and what became of it."""

    function: str
    payload: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    submitted: float = field(default_factory=time.time)
    attempts: list[tuple[bool, bytes]] = field(default_factory=list[tuple[bool, bytes]])  # (error, result) each
    outcome: str = "queued"  # queued | succeeded | RetriesExhausted | EventAgeExceeded
    destination: str | None = None  # where the failure record was sent
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float) -> AsyncEvent:
        if not self.done.wait(timeout):
            raise TimeoutError(f"async event for {self.function} still {self.outcome} after {timeout}s: {self}")
        return self


class AsyncInvoker:
    def __init__(
        self, emulator: LambdaEmulator, *, lambda_client: Any, sqs_client: Any = None, time_scale: float = 0.01
    ) -> None:
        self.emulator = emulator
        self.lambda_client = lambda_client
        self.sqs_client = sqs_client
        self.time_scale = time_scale
        self.events: list[AsyncEvent] = []
        self._lock = threading.Lock()

    def submit(self, function: str, payload: bytes) -> AsyncEvent:
        event = AsyncEvent(function=function, payload=payload)
        with self._lock:
            self.events.append(event)
        threading.Thread(target=self._run, args=(event,), name=f"async-{function}", daemon=True).start()
        return event

    def mark(self) -> int:
        """A position in the event list: `find(..., after=mark)` sees only events submitted since."""
        with self._lock:
            return len(self.events)

    def find(self, match: Callable[[AsyncEvent], bool], *, after: int = 0, timeout: float = 30.0) -> AsyncEvent:
        """The first event since `after` that `match` accepts, once it was submitted (events arrive through moto,
        a moment later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((e for e in self.events[after:] if match(e)), None)
            if found is not None:
                return found
            time.sleep(0.05)
        raise TimeoutError("no asynchronous invocation matched")

    def _config(self, function: str) -> tuple[int, float, str | None]:
        try:
            conf = self.lambda_client.get_function_event_invoke_config(FunctionName=function)
        except Exception as exc:
            if "ResourceNotFound" not in type(exc).__name__ + str(exc):
                raise
            return DEFAULT_RETRIES, DEFAULT_MAX_AGE_S, None
        retries = int(conf.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        max_age = float(conf.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S))
        on_failure = (conf.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
        return retries, max_age, on_failure

    def _run(self, event: AsyncEvent) -> None:
        try:
            self._deliver(event)
        except Exception as exc:  # the emulation itself failed: say so rather than leave the event queued
            event.outcome = f"emulator error: {type(exc).__name__}: {exc}"
        finally:
            event.done.set()

    def _deliver(self, event: AsyncEvent) -> None:
        retries, max_age, on_failure = self._config(event.function)
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(RETRY_WAITS_S[min(attempt, len(RETRY_WAITS_S)) - 1] * self.time_scale)
                if time.time() - event.submitted > max_age:
                    event.outcome = "EventAgeExceeded"
                    break
            inv = self.emulator.invoke(event.function, event.payload)
            event.attempts.append((inv.error, inv.result))
            if not inv.error:
                event.outcome = "succeeded"
                return
        else:
            event.outcome = "RetriesExhausted"
        if on_failure:
            self._send_failure(event, on_failure)

    def _send_failure(self, event: AsyncEvent, destination: str) -> None:
        if not destination.startswith("arn:aws:sqs:"):
            raise NotImplementedError(f"on-failure destination {destination}: only SQS is emulated")
        if self.sqs_client is None:
            raise RuntimeError("an SQS on-failure destination is configured, but the emulator has no SQS client")
        _, _, _, region, account, queue = destination.split(":", 5)
        url = self.sqs_client.get_queue_url(QueueName=queue, QueueOwnerAWSAccountId=account)["QueueUrl"]
        error, result = event.attempts[-1] if event.attempts else (True, b"{}")
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": f"arn:aws:lambda:{region}:{account}:function:{event.function}:$LATEST",
                "condition": event.outcome,
                "approximateInvokeCount": len(event.attempts),
            },
            "requestPayload": _json(event.payload),
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": "Unhandled"} if error else {}),
            },
            "responsePayload": _json(result),
        }
        self.sqs_client.send_message(QueueUrl=url, MessageBody=json.dumps(record))
        event.destination = destination


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")

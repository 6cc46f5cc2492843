"""Mail to an org's address in the cloud: an SES receipt rule stores the message in S3 and invokes the webhooks
Lambda, which starts the session (dexa.triggers.email).

SES invokes a Lambda action with the message's metadata only (`Records[].ses.{mail, receipt}`), so the rule's S3
action goes first and the handler reads `s3://DEXA_INBOUND_MAIL_BUCKET/DEXA_INBOUND_MAIL_PREFIX<messageId>`. An
SNS action with UTF-8 or Base64 content (`Records[].Sns.Message`, `notificationType: Received`) carries the
message itself and needs no bucket. SES's verdicts decide whether the From header is believed: SPF or DKIM must
pass, and a message SES marked as a virus or spam is refused before it is parsed.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any

import anyio.to_thread

from dexa.core.errors import ConfigError, StorageError
from dexa.triggers.email import EmailResult, EmailTriggers, parse_message

from ._ddb import error_code

logger = logging.getLogger(__name__)

ENV_BUCKET = "DEXA_INBOUND_MAIL_BUCKET"
ENV_PREFIX = "DEXA_INBOUND_MAIL_PREFIX"


def _notifications(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each record as {mail, receipt, content?}, whether SES invoked us directly or through SNS."""
    out: list[dict[str, Any]] = []
    for record in event.get("Records") or ():
        if not isinstance(record, Mapping):
            continue
        if isinstance(record.get("ses"), Mapping):
            out.append(dict(record["ses"]))  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(record.get("Sns"), Mapping):
            try:
                message = json.loads(record["Sns"].get("Message") or "{}")  # pyright: ignore[reportUnknownMemberType]
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("notificationType") == "Received":
                out.append(message)  # pyright: ignore[reportUnknownArgumentType]
    return out


def is_ses_event(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return False
    first = records[0]  # pyright: ignore[reportUnknownVariableType]
    return isinstance(first, Mapping) and (
        first.get("eventSource") == "aws:ses"  # pyright: ignore[reportUnknownMemberType]
        or (first.get("EventSource") == "aws:sns" and bool(_notifications(event)))  # pyright: ignore[reportUnknownMemberType]
    )


def _verdict(receipt: Mapping[str, Any], name: str) -> str:
    return str((receipt.get(name) or {}).get("status") or "").upper()


class SesInbound:
    def __init__(self, triggers: EmailTriggers, *, bucket: str = "", prefix: str = "", s3: Any = None) -> None:
        self.triggers, self.bucket, self.prefix, self._s3 = triggers, bucket, prefix, s3

    @classmethod
    def from_env(cls, triggers: EmailTriggers, env: Mapping[str, str], *, s3: Any = None) -> SesInbound:
        return cls(triggers, bucket=env.get(ENV_BUCKET, ""), prefix=env.get(ENV_PREFIX, ""), s3=s3)

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        return self._s3

    async def _raw(self, note: Mapping[str, Any]) -> bytes:
        content = note.get("content")
        if content:
            text = str(content)
            encoding = str((note.get("receipt") or {}).get("action", {}).get("encoding") or "UTF8").upper()
            return base64.b64decode(text) if encoding == "BASE64" else text.encode()
        message_id = str((note.get("mail") or {}).get("messageId") or "")
        if not self.bucket:
            raise ConfigError(f"SES delivered {message_id} without content and {ENV_BUCKET} is not set")
        key = self.prefix + message_id

        def get() -> bytes:
            try:
                return self._client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except Exception as exc:
                raise StorageError(f"could not read s3://{self.bucket}/{key}: {error_code(exc) or exc}") from exc

        return await anyio.to_thread.run_sync(get)

    async def handle_one(self, note: Mapping[str, Any]) -> EmailResult:
        receipt: Mapping[str, Any] = note.get("receipt") or {}
        if "FAIL" in (_verdict(receipt, "virusVerdict"), _verdict(receipt, "spamVerdict")):
            return EmailResult(status="rejected", reason="SES marked the message as a virus or spam")
        recipients = [str(r) for r in receipt.get("recipients") or (note.get("mail") or {}).get("destination") or ()]
        mail = parse_message(await self._raw(note), envelope_to=recipients)
        passed = "PASS" in (_verdict(receipt, "spfVerdict"), _verdict(receipt, "dkimVerdict"))
        return await self.triggers.handle(mail, authenticated=passed)

    async def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Start a session per received message. Returns SES's disposition (a synchronous invocation reads it)
        and what became of each message.

        Raises:
            StorageError: the stored message could not be read (the invocation fails, so SES retries it).
        """
        results: list[dict[str, Any]] = []
        for note in _notifications(event):
            message_id = str((note.get("mail") or {}).get("messageId") or "")
            try:
                result = await self.handle_one(note)
            except ConfigError as exc:
                result = EmailResult(status="rejected", reason=exc.message)
            if result.status == "rejected":
                logger.warning("inbound mail %s refused: %s", message_id, result.reason)
            results.append(
                {
                    "message_id": message_id,
                    "status": result.status,
                    "reason": result.reason,
                    "session_id": result.session_id,
                }
            )
        return {"disposition": "CONTINUE", "results": results}

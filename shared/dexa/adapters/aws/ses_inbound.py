"""Mail to an org's address in the cloud, as SES hands it over: an SES receipt rule stores the message in S3 and
invokes the webhooks Lambda, whose front (dexa.cloud.webhooks) gives each message to dexa.triggers.email.

SES invokes a Lambda action with the message's metadata only (`Records[].ses.{mail, receipt}`), so the rule's S3
action goes first and the handler reads `s3://DEXA_INBOUND_MAIL_BUCKET/DEXA_INBOUND_MAIL_PREFIX<messageId>`. An
SNS action with UTF-8 or Base64 content (`Records[].Sns.Message`, `notificationType: Received`) carries the
message itself and needs no bucket. SES's verdicts decide whether the From header is believed: SPF or DKIM must
pass, and a message SES marked as a virus or spam is refused before it is read. This module knows only SES's shapes
and the bucket; what a message may start is the email trigger's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from dexa.core.errors import ConfigError, StorageError

from ._ddb import error_code

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


@dataclass(frozen=True, slots=True)
class SesMail:
    """One received message as SES describes it."""

    message_id: str
    recipients: list[str]
    refused: str  # why SES's own checks refuse it (a virus or spam verdict); "" when they don't
    authenticated: bool  # SPF or DKIM passed: the From header can be believed
    note: Mapping[str, Any] = field(repr=False)


class SesInbound:
    def __init__(self, *, bucket: str = "", prefix: str = "", s3: Any = None) -> None:
        self.bucket, self.prefix, self._s3 = bucket, prefix, s3

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, s3: Any = None) -> SesInbound:
        return cls(bucket=env.get(ENV_BUCKET, ""), prefix=env.get(ENV_PREFIX, ""), s3=s3)

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        return self._s3

    def received(self, event: Mapping[str, Any]) -> list[SesMail]:
        """The messages an SES (or SES-through-SNS) event announces."""
        out: list[SesMail] = []
        for note in _notifications(event):
            receipt: Mapping[str, Any] = note.get("receipt") or {}
            mail: Mapping[str, Any] = note.get("mail") or {}
            bad = "FAIL" in (_verdict(receipt, "virusVerdict"), _verdict(receipt, "spamVerdict"))
            out.append(
                SesMail(
                    message_id=str(mail.get("messageId") or ""),
                    recipients=[str(r) for r in receipt.get("recipients") or mail.get("destination") or ()],
                    refused="SES marked the message as a virus or spam" if bad else "",
                    authenticated="PASS" in (_verdict(receipt, "spfVerdict"), _verdict(receipt, "dkimVerdict")),
                    note=note,
                )
            )
        return out

    async def raw(self, mail: SesMail) -> bytes:
        """The message itself: the SNS notification's content, or the object the rule's S3 action stored.

        Raises:
            ConfigError: no content and no bucket to read it from.
            StorageError: the stored message could not be read (fail the invocation, so SES retries it).
        """
        content = mail.note.get("content")
        if content:
            text = str(content)
            encoding = str((mail.note.get("receipt") or {}).get("action", {}).get("encoding") or "UTF8").upper()
            return base64.b64decode(text) if encoding == "BASE64" else text.encode()
        if not self.bucket:
            raise ConfigError(f"SES delivered {mail.message_id} without content and {ENV_BUCKET} is not set")
        key = self.prefix + mail.message_id

        def get() -> bytes:
            try:
                return self._client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except Exception as exc:
                raise StorageError(f"could not read s3://{self.bucket}/{key}: {error_code(exc) or exc}") from exc

        return await anyio.to_thread.run_sync(get)

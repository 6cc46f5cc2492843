"""Mail through Amazon SES (sesv2 SendEmail): the Mailer port (dexa.integrations.review_notify) in the cloud.

The sender must be a verified SES identity (the address or its domain); SES refuses anything else with
MessageRejected, reported here as a ConfigError naming the sender so the deployment can be fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread

from dexa.core.errors import ConfigError, StorageError

from ._ddb import error_code

ENV_SENDER = "DEXA_MAIL_FROM"
ENV_CONFIGURATION_SET = "DEXA_SES_CONFIGURATION_SET"


class SesMailer:
    def __init__(
        self, sender: str, *, client: Any = None, region: str | None = None, configuration_set: str = ""
    ) -> None:
        if "@" not in sender:
            raise ConfigError(f"{ENV_SENDER} must be an email address (a verified SES identity), got {sender!r}")
        self.sender, self._client, self.configuration_set = sender, client, configuration_set
        self._region = region

    def _ses(self) -> Any:
        # Made on first send: an SES client costs every cold step ~15 ms, and few steps send mail.
        if self._client is None:
            from .clients import aws_client

            self._client = aws_client("sesv2", region=self._region)
        return self._client

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, client: Any = None) -> SesMailer | None:
        """None when no sender is configured (mail is off)."""
        sender = env.get(ENV_SENDER, "")
        if not sender:
            return None
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        return cls(sender, client=client, region=region, configuration_set=env.get(ENV_CONFIGURATION_SET, ""))

    async def send(self, *, to: Sequence[str], subject: str, text: str, html: str = "") -> str:
        """Send one message to `to`; returns SES's message id.

        Raises:
            ConfigError: SES refused the sender (not a verified identity) or a recipient.
            StorageError: SES failed otherwise (throttling, outage).
        """
        body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        args: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": list(to)},
            "Content": {"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}},
        }
        if self.configuration_set:
            args["ConfigurationSetName"] = self.configuration_set

        def run() -> str:
            try:
                return str(self._ses().send_email(**args)["MessageId"])
            except Exception as exc:
                code = error_code(exc)
                if code in ("MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException"):
                    raise ConfigError(f"SES refused mail from {self.sender} to {list(to)}: {exc}") from exc
                raise StorageError(f"SES SendEmail failed: {code or type(exc).__name__}: {exc}") from exc

        return await anyio.to_thread.run_sync(run)

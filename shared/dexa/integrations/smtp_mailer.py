"""Mail over SMTP: the Mailer port (dexa.integrations.review_notify) for `dexa serve`, where there is no SES.

Configured from the environment:
    DEXA_SMTP_HOST       the server (mail is off without it)
    DEXA_SMTP_PORT       default 587 with STARTTLS, 25 without
    DEXA_SMTP_STARTTLS   1 (default) upgrades the connection before AUTH; 0 only for a relay on a trusted network
    DEXA_SMTP_USER       AUTH user (no AUTH when empty)
    DEXA_SMTP_PASSWORD   AUTH password; when unset it is read from the vault key `smtp/password`
    DEXA_SMTP_CA_FILE    a CA bundle to verify the server with (a private relay's own CA)
    DEXA_MAIL_FROM       the sender address (shared with the SES mailer)

smtplib is blocking, so each message is sent on a worker thread; one connection per message keeps a dead relay
from wedging later notices.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import anyio.to_thread

from dexa.core.errors import ConfigError, StorageError

logger = logging.getLogger(__name__)

ENV_HOST = "DEXA_SMTP_HOST"
VAULT_PASSWORD_KEY = "smtp/password"
PasswordSource = Callable[[], Awaitable[str]]


def _flag(value: str, default: bool) -> bool:
    if not value:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


async def _no_password() -> str:
    return ""


class SmtpMailer:
    def __init__(
        self,
        host: str,
        *,
        sender: str,
        port: int | None = None,
        starttls: bool = True,
        user: str = "",
        password: PasswordSource = _no_password,
        ca_file: str = "",
        timeout_s: float = 20.0,
    ) -> None:
        if not host:
            raise ConfigError(f"{ENV_HOST} is empty; name the SMTP server reviewer mail goes through")
        if "@" not in sender:
            raise ConfigError(f"DEXA_MAIL_FROM must be an email address (the sender of reviewer mail), got {sender!r}")
        self.host, self.sender, self.starttls, self.user = host, sender, starttls, user
        self.port = port or (587 if starttls else 25)
        self._password, self._ca_file, self._timeout = password, ca_file, timeout_s

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, vault_password: PasswordSource | None = None) -> SmtpMailer | None:
        """None when DEXA_SMTP_HOST is unset (mail goes elsewhere, or nowhere).

        Raises:
            ConfigError: a port that is not a number, or no sender address.
        """
        host = env.get(ENV_HOST, "")
        if not host:
            return None
        raw_port = env.get("DEXA_SMTP_PORT", "")
        if raw_port and not raw_port.isdigit():
            raise ConfigError(f"DEXA_SMTP_PORT must be a port number, got {raw_port!r}")
        plain = env.get("DEXA_SMTP_PASSWORD", "")

        async def password() -> str:
            if plain or vault_password is None:
                return plain
            return await vault_password()

        return cls(
            host,
            sender=env.get("DEXA_MAIL_FROM", ""),
            port=int(raw_port) if raw_port else None,
            starttls=_flag(env.get("DEXA_SMTP_STARTTLS", ""), True),
            user=env.get("DEXA_SMTP_USER", ""),
            password=password,
            ca_file=env.get("DEXA_SMTP_CA_FILE", ""),
        )

    async def send(self, *, to: Sequence[str], subject: str, text: str, html: str = "") -> str:
        """Send one message; returns its Message-ID.

        Raises:
            ConfigError: the server refused our credentials, the sender or every recipient, or has no STARTTLS.
            StorageError: the server could not be reached or failed otherwise.
        """
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, ", ".join(to), subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[1])
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        password = await self._password() if self.user else ""
        await anyio.to_thread.run_sync(lambda: self._deliver(msg, list(to), password))
        return str(msg["Message-ID"])

    def _deliver(self, msg: EmailMessage, to: list[str], password: str) -> None:
        where = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise ConfigError(f"SMTP server {where} does not offer STARTTLS (set DEXA_SMTP_STARTTLS=0?)")
                    smtp.starttls(context=ssl.create_default_context(cafile=self._ca_file or None))
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, password)
                smtp.send_message(msg, from_addr=self.sender, to_addrs=to)
        except smtplib.SMTPAuthenticationError as exc:
            raise ConfigError(f"SMTP server {where} refused the login of {self.user!r}: {exc.smtp_code}") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise ConfigError(f"SMTP server {where} refused the sender {self.sender}: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise ConfigError(f"SMTP server {where} refused every recipient: {sorted(exc.recipients)}") from exc
        except ssl.SSLError as exc:
            raise ConfigError(f"STARTTLS with {where} failed (DEXA_SMTP_CA_FILE?): {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise StorageError(f"SMTP delivery through {where} failed: {type(exc).__name__}: {exc}") from exc

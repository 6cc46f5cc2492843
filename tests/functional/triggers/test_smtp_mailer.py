"""Reviewer mail over SMTP: STARTTLS verified against the server's CA, AUTH, and clear errors when either fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from trigger_kit import SMTP_PASSWORD, SMTP_USER, Mailbox, body_text

from dexa.core.errors import ConfigError
from dexa.integrations.smtp_mailer import SmtpMailer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path)
    yield box
    box.close()


async def test_mail_goes_through_starttls_and_auth(mailbox: Mailbox) -> None:
    mailer = SmtpMailer.from_env(mailbox.env())
    assert mailer is not None and mailer.starttls
    message_id = await mailer.send(to=["rev@acme.example"], subject="Dexa staged an email", text="Approve: https://x")
    (msg,) = mailbox.messages
    assert msg["Message-ID"] == message_id and msg["Subject"] == "Dexa staged an email"
    assert msg["From"] == "dexa@dexa.test" and "rev@acme.example" in msg["X-Envelope-To"]
    assert body_text(msg).strip() == "Approve: https://x"
    assert mailbox.logins == [SMTP_USER]


async def test_the_password_can_come_from_the_vault(mailbox: Mailbox) -> None:
    asked: list[str] = []

    async def from_vault() -> str:
        asked.append("smtp/password")
        return SMTP_PASSWORD

    env = {k: v for k, v in mailbox.env().items() if k != "DEXA_SMTP_PASSWORD"}
    mailer = SmtpMailer.from_env(env, vault_password=from_vault)
    assert mailer is not None
    await mailer.send(to=["rev@acme.example"], subject="s", text="t")
    assert asked == ["smtp/password"] and len(mailbox.messages) == 1


async def test_a_wrong_password_is_a_config_error_naming_the_login(mailbox: Mailbox) -> None:
    mailer = SmtpMailer.from_env({**mailbox.env(), "DEXA_SMTP_PASSWORD": "wrong"})
    assert mailer is not None
    with pytest.raises(ConfigError, match=f"refused the login of '{SMTP_USER}'"):
        await mailer.send(to=["rev@acme.example"], subject="s", text="t")
    assert mailbox.messages == []


async def test_an_untrusted_certificate_fails_starttls(mailbox: Mailbox) -> None:
    env = {k: v for k, v in mailbox.env().items() if k != "DEXA_SMTP_CA_FILE"}
    mailer = SmtpMailer.from_env(env)
    assert mailer is not None
    with pytest.raises(ConfigError, match=r"STARTTLS with 127\.0\.0\.1"):
        await mailer.send(to=["rev@acme.example"], subject="s", text="t")
    assert mailbox.messages == []


async def test_a_server_without_starttls_is_refused_unless_told(tmp_path: Path) -> None:
    box = Mailbox(tmp_path, tls=False)
    try:
        mailer = SmtpMailer.from_env(box.env())
        assert mailer is not None
        with pytest.raises(ConfigError, match="does not offer STARTTLS"):
            await mailer.send(to=["rev@acme.example"], subject="s", text="t")
        plain = {k: v for k, v in box.env().items() if k not in ("DEXA_SMTP_USER", "DEXA_SMTP_PASSWORD")}
        relay = SmtpMailer.from_env({**plain, "DEXA_SMTP_STARTTLS": "0"})
        assert relay is not None
        await relay.send(to=["rev@acme.example"], subject="s", text="t")
        assert len(box.messages) == 1
    finally:
        box.close()


def test_settings_are_checked() -> None:
    assert SmtpMailer.from_env({}) is None
    with pytest.raises(ConfigError, match="DEXA_SMTP_PORT must be a port number"):
        SmtpMailer.from_env({"DEXA_SMTP_HOST": "mail", "DEXA_SMTP_PORT": "x", "DEXA_MAIL_FROM": "d@x.io"})
    with pytest.raises(ConfigError, match="DEXA_MAIL_FROM"):
        SmtpMailer.from_env({"DEXA_SMTP_HOST": "mail"})

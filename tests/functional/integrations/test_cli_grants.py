"""`dexa integrations connect --mine / --for`, `grants` and `disconnect` against the local home: which grant a
sign-in is for, the grants policy, and removing one grant while the integration stays."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from typer.testing import CliRunner

from dexa.adapters.sqlite import SqliteStore
from dexa.cli.integrations_cmd import app
from dexa.integrations.oauth import PENDING_NAMESPACE
from dexa.settings import DexaSettings


def _pending_owner(url: str) -> str:
    """Whose grant the sign-in behind this authorize URL will store (its pending record, keyed by state)."""
    state = parse_qs(urlsplit(url).query)["state"][0]
    store = SqliteStore(DexaSettings().db_path)
    try:
        pending = asyncio.run(store.kv_get(PENDING_NAMESPACE, state))
    finally:
        store.close()
    assert pending is not None
    return str(pending["owner"])


def _connect(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, ["connect", *args, "--no-wait"])
    assert result.exit_code == 0, result.output
    url = result.output.split("\n")[1]
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?"), result.output
    return url


def test_connect_is_for_the_org_by_default_and_for_me_with_mine_or_a_user_only_policy() -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["add", "google_calendar"])
    assert added.exit_code == 0, added.output
    integration_id = added.output.split()[1]
    assert runner.invoke(app, ["client", "https://accounts.google.com", "dexa-client-id"]).exit_code == 0

    assert _pending_owner(_connect(runner, integration_id)) == "org"
    assert _pending_owner(_connect(runner, integration_id, "--mine")) == "user:usr_local"
    assert _pending_owner(_connect(runner, integration_id, "--for", "me")) == "user:usr_local"
    contradiction = runner.invoke(app, ["connect", integration_id, "--mine", "--for", "org", "--no-wait"])
    assert contradiction.exit_code != 0 and "contradict" in contradiction.output

    shown = runner.invoke(app, ["grants", integration_id, "--policy", "user_only"])
    assert shown.exit_code == 0, shown.output
    assert "policy user_only" in shown.output and "no grant (connect one)" in shown.output
    assert _pending_owner(_connect(runner, integration_id)) == "user:usr_local"  # user_only: your own
    refused = runner.invoke(app, ["connect", integration_id, "--for", "org", "--no-wait"])
    assert refused.exit_code == 2 and "user_only" in refused.output
    bad = runner.invoke(app, ["grants", integration_id, "--policy", "everyone"])
    assert bad.exit_code == 2 and "user_first, org_only, user_only" in bad.output

    # Nothing is connected yet: disconnecting names whose grant is missing; the integration stays.
    missing = runner.invoke(app, ["disconnect", integration_id, "--mine"])
    assert missing.exit_code == 2 and "no grant of user:usr_local" in missing.output
    assert integration_id in runner.invoke(app, ["list", "--json"]).output


def test_an_api_key_integration_has_no_own_grants() -> None:
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["add", "zendesk", "--api-key", "zd-secret", "--config", "subdomain=acme", "--config", "email=a@acme.example"],
    )
    assert added.exit_code == 0, added.output
    integration_id = added.output.split()[1]
    refused = runner.invoke(app, ["connect", integration_id, "--mine", "--no-wait"])
    assert refused.exit_code == 2 and "only OAuth integrations have own grants" in refused.output

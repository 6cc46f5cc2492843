"""`dexa integrations` against the local home (DEXA_HOME is a temp dir in tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dexa.cli.integrations_cmd import app, parse_callback


def test_add_list_status_remove_round_trip() -> None:
    runner = CliRunner()
    providers = runner.invoke(app, ["providers"])
    assert providers.exit_code == 0 and "hubspot" in providers.output
    added = runner.invoke(
        app,
        ["add", "zendesk", "--api-key", "zd-secret", "--config", "subdomain=acme", "--config", "email=a@acme.example"],
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(runner.invoke(app, ["list", "--json"]).output)
    (record,) = listed
    assert record["provider"] == "zendesk" and record["status"] == "connected"
    status = runner.invoke(app, ["status", record["id"], "--probe"])
    assert status.exit_code == 0 and '"ok": true' in status.output
    vault = Path(os.environ["DEXA_HOME"]) / "vault.bin"
    assert vault.exists() and b"zd-secret" not in vault.read_bytes()
    assert runner.invoke(app, ["remove", record["id"]]).exit_code == 0
    assert json.loads(runner.invoke(app, ["list", "--json"]).output) == []


def test_errors_are_reported_not_raised() -> None:
    result = CliRunner().invoke(app, ["add", "myspace"])
    assert result.exit_code == 2 and "unknown provider" in result.output
    missing = CliRunner().invoke(app, ["status", "int_nope"])
    assert missing.exit_code == 2 and "no integration" in missing.output


def test_oauth_connect_prints_the_authorize_url_with_pkce_and_resource() -> None:
    runner = CliRunner()
    runner.invoke(app, ["allow", "https://mcp.test/*"])
    added = runner.invoke(app, ["add", "gmail"])
    assert "next: dexa integrations connect" in added.output
    integration_id = added.output.split()[1]
    runner.invoke(app, ["client", "https://accounts.google.com", "dexa-client-id"])
    result = runner.invoke(app, ["connect", integration_id, "--no-wait"])
    assert result.exit_code == 0, result.output
    url = result.output.split("\n")[1]
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?") and "code_challenge_method=S256" in url
    assert "access_type=offline" in url and "client_id=dexa-client-id" in url


def test_callback_parsing_accepts_a_url_or_query_and_reports_provider_errors() -> None:
    assert parse_callback("https://dexa.test/cb?code=c1&state=s1&iss=https%3A%2F%2Fa") == ("c1", "s1", "https://a")
    assert parse_callback("?code=c&state=s") == ("c", "s", None)
    with pytest.raises(Exception, match="access_denied"):
        parse_callback("https://dexa.test/cb?error=access_denied&state=s")

"""What a stdio server process is given: a small inherited env, its own config, never platform credentials."""

from __future__ import annotations

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.transports import server_env, stdio_launch


def test_stdio_servers_never_receive_platform_credentials() -> None:
    server = ServerConfig(
        name="s",
        transport="stdio",
        command="node",
        env={"API_TOKEN": "customer-token", "ANTHROPIC_API_KEY": "leak", "COPY": "sk-platform-123"},
    )
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "ANTHROPIC_API_KEY": "sk-platform-123",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "GITHUB_TOKEN": "gh",
    }
    env = server_env(server, base, frozenset({"sk-platform-123"}))
    assert env == {"PATH": "/usr/bin", "HOME": "/home/u", "API_TOKEN": "customer-token"}


def test_stdio_launch_keeps_command_args_and_working_directory() -> None:
    server = ServerConfig(name="s", transport="stdio", command="python", args=("-m", "srv"), cwd="/ws")
    launch = stdio_launch(server, base_env={"PATH": "/bin"})
    assert (launch.command, launch.args, launch.cwd, launch.env) == ("python", ("-m", "srv"), "/ws", {"PATH": "/bin"})

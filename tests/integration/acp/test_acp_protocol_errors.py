"""Bad input on `dexa acp`'s stdin gets a JSON-RPC error naming the cause, and the agent keeps serving: raw lines,
as a buggy editor or a person testing by hand would send them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from acp_rig import agent_env

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

LINES = [
    "this is not json",
    "[1, 2]",
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}),
    json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "session/prompt",
            "params": {"sessionId": "nope", "prompt": [{"type": "text", "text": "hi"}]},
        }
    ),
    json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "session/load",
            "params": {"sessionId": "missing", "cwd": "/", "mcpServers": []},
        }
    ),
    json.dumps({"jsonrpc": "2.0", "id": 4, "method": "session/teleport", "params": {}}),
    json.dumps({"jsonrpc": "2.0", "id": 5, "method": "session/new", "params": {"cwd": 5}}),
    json.dumps({"id": 6, "method": "initialize", "params": {"protocolVersion": 1}}),
    json.dumps({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {"protocolVersion": 1}}),
]


def test_malformed_messages_and_unknown_sessions_get_errors_and_the_agent_survives(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    answers: list[dict[str, Any]] = []
    with serve(Script.from_dict({"turns": [{"text": "unused"}]})) as model, log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "acp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=agent_env(tmp_path, model.url),
            cwd=tmp_path,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n".join(LINES) + "\n")
        proc.stdin.flush()
        # Each line gets exactly one answer; the editor closes stdin only once it has them all.
        while len(answers) < len(LINES):
            line = proc.stdout.readline()
            assert line, f"dexa acp stopped answering: {log.read_text()[-3000:]}"
            answers.append(json.loads(line))
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    by_id = {a["id"]: a for a in answers if a["id"] is not None}
    anonymous = [a["error"] for a in answers if a["id"] is None]
    assert anonymous[0]["code"] == -32700 and "not JSON" in anonymous[0]["message"]
    assert anonymous[1]["code"] == -32600 and "object, not list" in anonymous[1]["message"]
    assert by_id[1]["result"]["agentCapabilities"]["loadSession"] is True
    assert by_id[2]["error"]["code"] == -32002 and "Unknown session 'nope'" in by_id[2]["error"]["message"]
    assert by_id[3]["error"]["code"] == -32002 and "missing" in by_id[3]["error"]["message"]
    assert by_id[4]["error"]["code"] == -32601 and by_id[4]["error"]["data"]["method"] == "session/teleport"
    assert by_id[5]["error"]["code"] == -32602 and "cwd" in json.dumps(by_id[5]["error"]["data"])
    assert by_id[6]["error"]["code"] == -32600 and '"jsonrpc" must be "2.0"' in by_id[6]["error"]["message"]
    # Still serving after all of that: the last initialize is answered like the first.
    assert by_id[7]["result"] == by_id[1]["result"]

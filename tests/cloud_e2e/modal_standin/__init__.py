"""EMULATION of Modal for the cloud e2e harness: a stand-in server plus a fake `modal` package (not Modal).

    standin = ModalStandin.start(state_dir, time_scale=0.01)  # idle 900 s -> 9 s, lifetime 24 h -> 14.4 min
    env.update(standin.lambda_env())   # PYTHONPATH first entry + MODAL_STANDIN_URL (+ a dummy token if none)
    standin.state()                    # {"sandboxes": [...], "volumes": [...], "ended": [...]}
    standin.expire(name="dexa-ses_...", reason="idle_timeout")    # as if Modal's idle timeout had passed
    standin.delete_volume("dexa-ws-ses_...")                       # a lost workspace
    standin.stop()

The server (server.py) runs every sandbox as a bubblewrap sandbox on this machine and is shared by all the
emulated Lambda processes, as Modal is shared by the real ones. Sandboxes see this machine's /usr (python3, git,
bash), not the Modal image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE_PARENT = str(HERE)  # holds the fake `modal` package: put it first on PYTHONPATH
SERVER = HERE / "server.py"


@dataclass
class ModalStandin:
    url: str
    state_dir: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, state_dir: Path, *, time_scale: float = 1.0, python: str = sys.executable) -> ModalStandin:
        """Start the server (a child process in its own session); returns once it accepts requests."""
        state_dir.mkdir(parents=True, exist_ok=True)
        log = (state_dir / "server.log").open("ab")
        proc = subprocess.Popen(
            [python, str(SERVER), "--state", str(state_dir), "--time-scale", str(time_scale)],
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("listening on "):
            proc.kill()
            raise RuntimeError(f"Modal stand-in did not start: {line!r}; see {state_dir / 'server.log'}")
        threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
        return cls(url=line.split("listening on ", 1)[1].strip(), state_dir=state_dir, proc=proc)

    def lambda_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """What an emulated Lambda needs so `import modal` reaches this stand-in: the fake package first on
        PYTHONPATH, the server URL, and a token (the stand-in accepts any; Dexa checks one is configured)."""
        base = base or {}
        path = [PACKAGE_PARENT, *[p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p]]
        return {
            "PYTHONPATH": os.pathsep.join(path),
            "MODAL_STANDIN_URL": self.url,
            "MODAL_TOKEN_ID": base.get("MODAL_TOKEN_ID") or "ak-standin",
            "MODAL_TOKEN_SECRET": base.get("MODAL_TOKEN_SECRET") or "as-standin",
        }

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_standin/state", timeout=30) as resp:
            return json.loads(resp.read())

    def sandboxes(self, *, alive: bool = True) -> list[dict[str, Any]]:
        return [s for s in self.state()["sandboxes"] if s["alive"] or not alive]

    def expire(
        self, *, name: str | None = None, sandbox_id: str | None = None, all: bool = False, reason: str = "idle_timeout"
    ) -> list[str]:
        """End sandboxes now, as Modal's idle timeout (or `reason="lifetime"`) would; returns their ids."""
        return self._post("/_standin/expire", {"name": name, "sandbox_id": sandbox_id, "all": all, "reason": reason})[
            "ended"
        ]

    def delete_volume(self, name: str) -> None:
        self._post("/_standin/volumes/delete", {"name": name})

    def wait_ended(self, sandbox_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.state()["sandboxes"]:
                if s["sandbox_id"] == sandbox_id and not s["alive"]:
                    return s
            time.sleep(0.1)
        raise TimeoutError(f"sandbox {sandbox_id} still running after {timeout} s")

    def stop(self) -> None:
        """End every sandbox and the server (by its own pid)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def load_fake_modal() -> Any:
    """The fake `modal` package as a module object under a private name (for in-process tests that pass it as
    ModalSandbox(modal_module=...) without shadowing the real `modal`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "modal_standin_fake", HERE / "modal" / "__init__.py", submodule_search_locations=[str(HERE / "modal")]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

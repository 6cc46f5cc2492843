"""EMULATION of Modal's sandbox service on this machine (not Modal): one process that all emulated Lambdas share.

    python server.py --state DIR [--port 0] [--time-scale 1.0]     prints `listening on http://127.0.0.1:PORT`

What it emulates, at the level the `modal` SDK sees it (the fake package in ./modal talks to it over HTTP):
- Sandboxes: each one a bubblewrap sandbox (own pid, ipc and uts namespaces; no network when `block_network`)
  whose root filesystem is a writable host directory (the container layer) with the host's /usr and /etc
  read-only. A small agent (agent.py) inside runs execs and filesystem calls; processes an exec leaves behind
  live until the sandbox ends.
- Lifecycle: `idle_timeout` (no exec running and no call for that long), `timeout` (maximum lifetime), both
  multiplied by --time-scale so tests can shorten them; `terminate`; names unique per app while running
  (`from_name`), `from_id`, tags and `list`.
- Volumes: host directories bind-mounted at their mount paths; they outlive sandboxes until deleted.
- Filesystem snapshots: `snapshot_filesystem` copies the container layer into an image a later sandbox starts from.
What it does not emulate: image builds (the build steps are recorded; sandboxes use this machine's toolchain),
gVisor, GPUs, tunnels, CPU/memory limits, volume commit semantics (writes are visible at once) and Modal's auth.

Control endpoints for the harness (never part of Modal's API) live under /_standin/: state, expire, delete volume.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

AGENT = Path(__file__).with_name("agent.py")
SYSTEM_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
MOUNTPOINTS = ("usr", "etc", "proc", "dev", ".standin", ".standin-ctl")


class Spawner:
    """Starts sandboxes from one long-lived thread: bwrap's --die-with-parent fires when the *thread* that forked
    it exits, and HTTP handler threads end with their request."""

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[list[str], concurrent.futures.Future[subprocess.Popen[bytes]]]] = queue.Queue()
        threading.Thread(target=self._run, daemon=True, name="spawner").start()

    def _run(self) -> None:
        while True:
            args, fut = self._q.get()
            try:
                fut.set_result(
                    subprocess.Popen(
                        args,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            except Exception as exc:
                fut.set_exception(exc)

    def popen(self, args: list[str]) -> subprocess.Popen[bytes]:
        fut: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        self._q.put((args, fut))
        return fut.result(timeout=30)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass
class Proc:
    id: str
    sandbox: Sandbox
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    returncode: int | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)


@dataclass
class Sandbox:
    id: str
    app: str
    name: str | None
    tags: dict[str, str]
    idle_timeout: float | None
    timeout: float | None
    layer: Path
    volumes: dict[str, str]
    options: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    running_execs: int = 0
    returncode: int | None = None
    ended_reason: str = ""
    popen: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> str:
        return str(self.layer / "ctl" / "agent.sock")

    @property
    def alive(self) -> bool:
        return self.returncode is None


class Emulator:
    """All state: one lock guards the registries; per-sandbox work runs outside it."""

    def __init__(self, state: Path, time_scale: float) -> None:
        self.state = state
        self.time_scale = time_scale
        self.lock = threading.RLock()
        self.apps: dict[str, str] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.procs: dict[str, Proc] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.ended: list[dict[str, Any]] = []
        self.spawner = Spawner()
        for sub in ("volumes", "sandboxes", "images"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self._reaper, daemon=True).start()

    # ------------------------------------------------------------ lifecycle

    def _reaper(self) -> None:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            with self.lock:
                live = [s for s in self.sandboxes.values() if s.alive]
            for sb in live:
                if sb.popen is not None and sb.popen.poll() is not None:
                    self.terminate(sb, reason="exited")
                elif sb.running_execs:
                    sb.last_active = now
                elif sb.idle_timeout is not None and now - sb.last_active > sb.idle_timeout * self.time_scale:
                    self.terminate(sb, reason="idle_timeout")
                if sb.alive and sb.timeout is not None and now - sb.created > sb.timeout * self.time_scale:
                    self.terminate(sb, reason="lifetime")

    def terminate(self, sb: Sandbox, *, reason: str) -> None:
        with self.lock:
            if not sb.alive:
                return
            sb.returncode = 0 if reason in ("terminated", "exited") else 137
            sb.ended_reason = reason
            self.ended.append({"sandbox_id": sb.id, "name": sb.name, "reason": reason, "at": time.time()})
        if sb.popen is not None and sb.popen.poll() is None:
            os.killpg(sb.popen.pid, signal.SIGKILL)
            sb.popen.wait()
        for proc in list(self.procs.values()):
            if proc.sandbox is sb:
                with proc.cond:
                    if proc.returncode is None:
                        proc.returncode = 137
                    proc.cond.notify_all()

    def volume_dir(self, name: str) -> Path:
        return self.state / "volumes" / name

    def create_sandbox(self, body: dict[str, Any]) -> Sandbox:
        app, name = body["app"], body.get("name")
        with self.lock:
            if name and any(s.alive and s.app == app and s.name == name for s in self.sandboxes.values()):
                raise ApiError(409, "AlreadyExistsError", f"a sandbox named {name!r} is already running in {app!r}")
            for vol in (body.get("volumes") or {}).values():
                if not self.volume_dir(vol).is_dir():
                    raise ApiError(404, "NotFoundError", f"Volume {vol!r} not found")
            sb = Sandbox(
                id="sb-" + uuid.uuid4().hex[:20],
                app=app,
                name=name,
                tags=dict(body.get("tags") or {}),
                idle_timeout=body.get("idle_timeout"),
                timeout=body.get("timeout"),
                layer=self.state / "sandboxes" / ("sb-" + uuid.uuid4().hex[:20]),
                volumes=dict(body.get("volumes") or {}),
                options=body,
            )
            sb.layer = self.state / "sandboxes" / sb.id
            self.sandboxes[sb.id] = sb
        try:
            self._start(sb, body)
        except Exception:
            self.terminate(sb, reason="failed_to_start")
            raise
        return sb

    def _start(self, sb: Sandbox, body: dict[str, Any]) -> None:
        fs = sb.layer / "fs"
        (sb.layer / "ctl").mkdir(parents=True)
        image_id = (body.get("image") or {}).get("id")
        if image_id:
            if image_id not in self.images:
                raise ApiError(404, "NotFoundError", f"Image {image_id} not found")
            shutil.copytree(self.state / "images" / image_id, fs, symlinks=True)
        fs.mkdir(exist_ok=True)
        for name, target in SYSTEM_LINKS.items():
            if not (fs / name).is_symlink() and os.path.lexists(f"/{name}"):
                (fs / name).symlink_to(target)
        for name in ("tmp", "root", "var/tmp"):
            (fs / name).mkdir(parents=True, exist_ok=True)
        os.chmod(fs / "tmp", 0o1777)
        workdir = body.get("workdir") or "/"
        config = {"workdir": workdir, "env": {k: v for k, v in (body.get("env") or {}).items() if v is not None}}
        (sb.layer / "ctl" / "config.json").write_text(json.dumps(config))
        args = ["bwrap", "--unshare-user-try", "--unshare-ipc", "--unshare-pid", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--hostname", "modal", "--die-with-parent", "--cap-drop", "ALL"]
        if body.get("block_network"):
            args.append("--unshare-net")
        args += ["--bind", str(fs), "/", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--ro-bind", str(AGENT.parent), "/.standin", "--bind", str(sb.layer / "ctl"), "/.standin-ctl"]
        for mount, vol in sorted(sb.volumes.items()):
            args += ["--bind", str(self.volume_dir(vol)), mount]
        args += ["--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--chdir", "/"]
        args += [
            "/usr/bin/python3",
            "-I",
            "/.standin/agent.py",
            "/.standin-ctl/agent.sock",
            "/.standin-ctl/config.json",
        ]
        sb.popen = self.spawner.popen(args)
        assert sb.popen.stdout is not None
        line = sb.popen.stdout.readline()
        if line.strip() != b"ready":
            err = sb.popen.stderr.read().decode(errors="replace") if sb.popen.stderr else ""
            raise ApiError(500, "InternalError", f"sandbox failed to start: {line!r} {err[-2000:]}")
        threading.Thread(target=_drain, args=(sb.popen,), daemon=True).start()

    def get(self, sandbox_id: str) -> Sandbox:
        with self.lock:
            sb = self.sandboxes.get(sandbox_id)
        if sb is None:
            raise ApiError(404, "NotFoundError", f"Sandbox {sandbox_id} not found")
        return sb

    def live(self, sandbox_id: str) -> Sandbox:
        sb = self.get(sandbox_id)
        if not sb.alive:
            raise ApiError(410, "SandboxTerminatedError", f"Sandbox {sandbox_id} has terminated ({sb.ended_reason})")
        sb.last_active = time.monotonic()
        return sb

    # ------------------------------------------------------------ exec and filesystem through the agent

    def _connect(self, sb: Sandbox) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(sb.sock)
        except OSError as exc:
            conn.close()
            raise ApiError(410, "SandboxTerminatedError", f"Sandbox {sb.id} is not reachable: {exc}") from exc
        return conn

    def exec(self, sb: Sandbox, body: dict[str, Any]) -> Proc:
        conn = self._connect(sb)
        proc = Proc(id="pr-" + uuid.uuid4().hex[:20], sandbox=sb)
        with self.lock:
            self.procs[proc.id] = proc
            sb.running_execs += 1
        req = {"op": "exec", "argv": body["args"], "env": body.get("env"), "timeout": body.get("timeout")}
        req["workdir"] = body.get("workdir") or sb.options.get("workdir")
        conn.sendall((json.dumps(req) + "\n").encode())
        threading.Thread(target=self._relay, args=(conn, proc), daemon=True).start()
        return proc

    def _relay(self, conn: socket.socket, proc: Proc) -> None:
        code = 137
        try:
            with conn, conn.makefile("rb") as lines:
                for line in lines:
                    msg = json.loads(line)
                    if msg["t"] == "exit":
                        code = int(msg["code"])
                        break
                    with proc.cond:
                        (proc.out if msg["t"] == "out" else proc.err).extend(base64.b64decode(msg["d"]))
                        proc.cond.notify_all()
        except (OSError, ValueError):
            pass  # the sandbox ended under the exec: 137, like a killed container
        with self.lock:
            proc.sandbox.running_execs -= 1
            proc.sandbox.last_active = time.monotonic()
        with proc.cond:
            if proc.returncode is None:
                proc.returncode = code if proc.sandbox.alive else 137
            proc.cond.notify_all()

    def read(self, proc: Proc, stream: str, offset: int, wait_s: float) -> dict[str, Any]:
        buf = proc.out if stream == "stdout" else proc.err
        deadline = time.monotonic() + wait_s
        with proc.cond:
            while len(buf) <= offset and proc.returncode is None and time.monotonic() < deadline:
                proc.cond.wait(max(0.0, deadline - time.monotonic()))
            data = bytes(buf[offset:])
            eof = proc.returncode is not None and offset + len(data) >= len(buf)
        return {"data": base64.b64encode(data).decode(), "eof": eof}

    def wait(self, proc: Proc, wait_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait_s
        with proc.cond:
            while proc.returncode is None and time.monotonic() < deadline:
                proc.cond.wait(max(0.0, deadline - time.monotonic()))
            return {"returncode": proc.returncode}

    def fs(self, sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
        with self._connect(sb) as conn:
            conn.sendall((json.dumps({"op": "fs", **body}) + "\n").encode())
            with conn.makefile("rb") as lines:
                line = lines.readline()
        if not line:
            raise ApiError(410, "SandboxTerminatedError", f"Sandbox {sb.id} ended during a filesystem call")
        out = json.loads(line)
        if not out.pop("ok"):
            raise ApiError(400, out["error"], out["message"])
        return out

    def snapshot(self, sb: Sandbox) -> str:
        image_id = "im-" + uuid.uuid4().hex[:20]
        target = self.state / "images" / image_id
        fs = sb.layer / "fs"
        skip = set(MOUNTPOINTS) | set(SYSTEM_LINKS)
        volumes = {m.strip("/") for m in sb.volumes}

        def ignore(directory: str, names: list[str]) -> list[str]:
            rel = os.path.relpath(directory, fs)
            top = rel == "."
            return [n for n in names if (top and n in skip) or (n if top else f"{rel}/{n}") in volumes]

        shutil.copytree(fs, target, symlinks=True, ignore=ignore)
        with self.lock:
            self.images[image_id] = {"from_sandbox": sb.id, "created": time.time()}
        return image_id

    # ------------------------------------------------------------ views

    def describe(self, sb: Sandbox) -> dict[str, Any]:
        return {
            "sandbox_id": sb.id,
            "app": sb.app,
            "name": sb.name,
            "tags": sb.tags,
            "alive": sb.alive,
            "returncode": sb.returncode,
            "ended_reason": sb.ended_reason,
            "volumes": sb.volumes,
            "idle_timeout": sb.idle_timeout,
            "timeout": sb.timeout,
            "running_execs": sb.running_execs,
            "block_network": bool(sb.options.get("block_network")),
        }

    def state_doc(self) -> dict[str, Any]:
        with self.lock:
            return {
                "emulation": "Modal stand-in (not Modal)",
                "time_scale": self.time_scale,
                "apps": sorted(self.apps),
                "sandboxes": [self.describe(s) for s in self.sandboxes.values()],
                "volumes": sorted(p.name for p in (self.state / "volumes").iterdir()),
                "images": sorted(self.images),
                "ended": list(self.ended),
            }


def _drain(popen: subprocess.Popen[bytes]) -> None:
    for stream in (popen.stdout, popen.stderr):
        if stream is not None:
            threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    emu: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("MODAL_STANDIN_DEBUG"):
            sys.stderr.write("standin: " + format % args + "\n")

    def _reply(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/_standin/state":
            self._reply(200, self.emu.state_doc())
        else:
            self._reply(404, {"error": "NotFoundError", "message": self.path})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        try:
            self._reply(200, route(self.emu, self.path, body))
        except ApiError as exc:
            self._reply(exc.status, {"error": exc.error, "message": exc.message})
        except Exception as exc:  # an emulator bug: surface it to the client as Modal's InternalError
            self._reply(500, {"error": "InternalError", "message": f"{type(exc).__name__}: {exc}"})


def route(emu: Emulator, path: str, body: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 - one flat dispatch
    parts = path.strip("/").split("/")
    if path == "/v1/apps/lookup":
        with emu.lock:
            if body["name"] not in emu.apps and not body.get("create_if_missing"):
                raise ApiError(404, "NotFoundError", f"App {body['name']!r} not found")
            emu.apps.setdefault(body["name"], "ap-" + uuid.uuid4().hex[:20])
            return {"app_id": emu.apps[body["name"]], "name": body["name"]}
    if path == "/v1/volumes/from_name":
        vol = emu.volume_dir(body["name"])
        if not vol.is_dir():
            if not body.get("create_if_missing"):
                raise ApiError(404, "NotFoundError", f"Volume {body['name']!r} not found")
            vol.mkdir(parents=True, exist_ok=True)
        return {"name": body["name"], "volume_id": "vo-" + body["name"]}
    if path in ("/v1/volumes/delete", "/_standin/volumes/delete"):
        shutil.rmtree(emu.volume_dir(body["name"]), ignore_errors=True)
        return {}
    if path == "/v1/sandboxes/create":
        return {"sandbox_id": emu.create_sandbox(body).id}
    if path == "/v1/sandboxes/from_name":
        with emu.lock:
            for sb in emu.sandboxes.values():
                if sb.alive and sb.app == body["app_name"] and sb.name == body["name"]:
                    return {"sandbox_id": sb.id}
        raise ApiError(404, "NotFoundError", f"Sandbox {body['name']!r} not found in app {body['app_name']!r}")
    if path == "/v1/sandboxes/from_id":
        return emu.describe(emu.get(body["sandbox_id"]))
    if path == "/v1/sandboxes/list":
        with emu.lock:
            found = [
                emu.describe(s)
                for s in emu.sandboxes.values()
                if s.alive and all(s.tags.get(k) == v for k, v in (body.get("tags") or {}).items())
            ]
        return {"sandboxes": found}
    if parts[:2] == ["v1", "sandboxes"] and len(parts) == 4:
        sid, verb = parts[2], parts[3]
        if verb == "terminate":
            emu.terminate(emu.get(sid), reason="terminated")
            return {}
        if verb == "poll":
            return {"returncode": emu.get(sid).returncode}
        if verb == "describe":
            return emu.describe(emu.get(sid))
        if verb == "exec":
            return {"proc_id": emu.exec(emu.live(sid), body).id}
        if verb == "fs":
            return emu.fs(emu.live(sid), body)
        if verb == "snapshot_filesystem":
            return {"image_id": emu.snapshot(emu.live(sid))}
        if verb == "set_tags":
            emu.get(sid).tags = dict(body["tags"])
            return {}
    if parts[:2] == ["v1", "procs"] and len(parts) == 4:
        with emu.lock:
            proc = emu.procs.get(parts[2])
        if proc is None:
            raise ApiError(404, "NotFoundError", f"process {parts[2]} not found")
        if parts[3] == "read":
            return emu.read(proc, body["stream"], int(body.get("offset", 0)), float(body.get("wait_s", 0)))
        if parts[3] == "wait":
            return emu.wait(proc, float(body.get("wait_s", 0)))
    if path == "/_standin/expire":
        # Force what Modal would do later: end sandboxes as if their idle timeout or lifetime had passed.
        reason = body.get("reason", "idle_timeout")
        with emu.lock:
            targets = [
                s
                for s in emu.sandboxes.values()
                if s.alive and (body.get("all") or s.id == body.get("sandbox_id") or s.name == body.get("name"))
            ]
        for sb in targets:
            emu.terminate(sb, reason=reason)
        return {"ended": [s.id for s in targets]}
    raise ApiError(404, "NotFoundError", f"no route {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description="EMULATION of Modal sandboxes on bubblewrap (not Modal)")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies idle_timeout and timeout")
    args = parser.parse_args()
    emu = Emulator(args.state.resolve(), args.time_scale)
    handler = type("BoundHandler", (Handler,), {"emu": emu})
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True

    def stop(*_: Any) -> None:
        with emu.lock:
            live = [s for s in emu.sandboxes.values() if s.alive]
        for sb in live:
            emu.terminate(sb, reason="terminated")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Runs Lambda functions the way the Lambda service does, from what `cdk deploy` would upload.

moto (server mode) forwards every Invoke here (moto_launcher.py). For each function the emulator keeps a pool of
containers. A container is one bubblewrap sandbox running the managed runtime's bootstrap (awslambdaric) against a
Lambda Runtime API server of its own (GET /2018-06-01/runtime/invocation/next, POST .../{id}/response,
.../{id}/error, /init/error). As on Lambda:

* the root filesystem is read-only; only /tmp is writable (a tmpfs); HOME is not writable;
* /var/task is the function's synthesized asset directory, /opt its layer, /var/runtime the managed runtime
  (runtime_dir.py), /var/lang the Python interpreter; all read-only;
* the environment is exactly the function's configuration in moto (as provisioned from the template) plus the
  variables Lambda itself defines, and one addition: AWS_ENDPOINT_URL, pointing the SDK at moto;
* a container serves one invocation at a time; it is reused warm, and a new one is started cold when all are busy;
  an invocation past the function's timeout kills its container (Sandbox.Timedout). A per-function cap on live
  containers (`max_containers`, for this 2-core machine) queues invocations beyond it where Lambda would scale out.
* an exec wrapper (AWS_LAMBDA_EXEC_WRAPPER) is run with the runtime's command, and every executable in the layers'
  /opt/extensions is started first, as Lambda starts external extensions (the Extensions API itself is not served);
* a runtime may answer in streaming mode (`Lambda-Runtime-Function-Response-Mode: streaming`, chunked): the chunks
  reach an InvokeWithResponseStream caller as they arrive (`POST /2021-11-15/functions/NAME/response-streaming-
  invocations`, which API Gateway's streaming integrations call; moto has no such API, so the front calls the
  emulator directly, and the body is the raw stream rather than AWS's event-stream framing).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import queue
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from .async_invoke import AsyncInvoker
from .lambda_image import mask_args
from .procs import QuietHTTPServer
from .provision import REGION, Deployment
from .runtime_dir import build_runtime_dir

RUNTIME_API = "/2018-06-01/runtime"
SANDBOX_UID, SANDBOX_GID = 993, 990  # sbx_user1051 on Lambda
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
INVOCATION_MARK = "--- emulator: invocation"  # written to a container's log before each invocation (profiling)
HOST_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


class LambdaConfigError(Exception):
    """A function this machine cannot run faithfully (wrong architecture or runtime): the template must target it."""


@dataclass
class FunctionConfig:
    name: str
    arn: str
    handler: str
    runtime: str
    timeout: float
    memory: int
    env: dict[str, str]
    log_group: str
    code_dir: Path
    layer_dirs: list[Path]


@dataclass
class Invocation:
    payload: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    done: threading.Event = field(default_factory=threading.Event)
    result: bytes = b""
    error: bool = False
    # A streaming invoke: the runtime's response chunks as they arrive, None after the last one.
    chunks: queue.Queue[bytes | None] | None = None
    # Set when the streaming caller went away: the runtime's response stream is cut, as Lambda cuts it.
    abandoned: threading.Event = field(default_factory=threading.Event)
    cut: Callable[[], None] | None = None

    def abandon(self) -> None:
        self.abandoned.set()
        if self.cut is not None:
            self.cut()


@dataclass
class Stats:
    cold_starts: dict[str, int] = field(default_factory=dict[str, int])
    # seconds from process start to its first /next call: interpreter start + importing the handler module
    init_seconds: dict[str, list[float]] = field(default_factory=dict[str, list[float]])
    invocations: dict[str, int] = field(default_factory=dict[str, int])
    # one record per invocation: function, whether it started a container, seconds, the step task if any
    records: list[tuple[str, bool, float, str]] = field(default_factory=list[tuple[str, bool, float, str]])


class Container:
    def __init__(self, emulator: LambdaEmulator, config: FunctionConfig, serial: int) -> None:
        self.config = config
        self.emulator = emulator
        self.inbox: queue.Queue[Invocation] = queue.Queue()
        self.current: Invocation | None = None
        self.dead = False
        self.started = time.monotonic()
        self.init_seconds: float | None = None
        self.server = QuietHTTPServer(("127.0.0.1", 0), _runtime_api_handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        log_path = emulator.log_dir / f"lambda-{config.name}-{serial}.log"
        self.log = log_path.open("ab")
        self.proc = _spawn(
            self._argv(),
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._watch, daemon=True).start()

    def _argv(self) -> list[str]:
        c = self.config
        python_home = Path(sys.base_prefix)
        argv = [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-user",
            "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_GID),
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname", "169.254.0.1",
            "--ro-bind", "/usr", "/usr",
            *mask_args(self.emulator.work_dir / "empty"),  # tools AWS's runtime lacks (lambda_image.py)
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--ro-bind", "/etc", "/etc",
            "--ro-bind", str(python_home), "/var/lang",
            "--ro-bind", str(self.emulator.runtime_dir), "/var/runtime",
            "--ro-bind", str(c.code_dir), "/var/task",
            "--ro-bind", str(self.emulator.merged_layers(c.layer_dirs)), "/opt",
            *[arg for inside, host in self.emulator.sdk_mounts.items() for arg in ("--ro-bind", str(host), inside)],
            "--tmpfs", "/tmp",
            "--proc", "/proc",
            "--dev", "/dev",
            "--remount-ro", "/",
            "--chdir", "/var/task",
            *self._command(),
        ]  # fmt: skip
        return argv

    def _command(self) -> list[str]:
        """The managed runtime's command; behind the function's exec wrapper, after its layers' extensions."""
        runtime = [
            f"/var/lang/bin/python{sys.version_info.major}.{sys.version_info.minor}",
            *self.emulator.python_flags,
            "-S",
            "/var/runtime/bootstrap.py",
        ]
        wrapper = self.config.env.get("AWS_LAMBDA_EXEC_WRAPPER")
        if wrapper:
            runtime = [wrapper, *runtime]
        host_opt = self.emulator.merged_layers(self.config.layer_dirs)
        if not any((host_opt / "extensions").glob("*")):
            return runtime
        start = 'for x in /opt/extensions/*; do [ -f "$x" ] && [ -x "$x" ] && "$x" & done; exec "$@"'
        return ["/bin/sh", "-c", start, "lambda-init", *runtime]

    def _env(self) -> dict[str, str]:
        c = self.config
        creds = self.emulator.credentials
        lambda_env = {
            # What the Lambda service defines (docs: "Defined runtime environment variables").
            "_HANDLER": c.handler,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{c.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": c.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(c.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": c.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.server.server_address[1]}",
            "AWS_ACCESS_KEY_ID": creds[0],
            "AWS_SECRET_ACCESS_KEY": creds[1],
            "AWS_SESSION_TOKEN": creds[2],
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": (
                "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
            ),
            "PYTHONPATH": ":".join([*self.emulator.sdk_mounts, "/var/runtime"]),
            # Lambda sets no writable home; a library that writes under ~ fails here as it does there.
            "HOME": "/home/sbx_user1051",
            # The one addition: the SDK reaches moto instead of AWS.
            "AWS_ENDPOINT_URL": self.emulator.aws_endpoint,
        }
        env = {**c.env, **lambda_env, **self.emulator.sdk_env}
        if "AWS_LWA_PORT" in env:
            # Lambda gives each container its own network namespace; these share the host's, so each container's
            # web server (Lambda Web Adapter functions) gets its own port instead of the configured one.
            env["AWS_LWA_PORT"] = str(_free_port())
        return env

    def _watch(self) -> None:
        self.proc.wait()
        self.dead = True
        self.server.shutdown()
        self.server.server_close()
        inv = self.current
        if inv is not None and not inv.done.is_set():
            code = self.proc.returncode
            how = f"signal: {_SIGNALS.get(-code, -code)}" if code < 0 else f"exit status {code}"
            inv.result = _error_payload(
                "Runtime.ExitError", f"RequestId: {inv.request_id} Error: Runtime exited with error: {how}"
            )
            inv.error = True
            inv.done.set()
        self.log.close()

    def run(self, inv: Invocation) -> None:
        self.current = inv
        self.inbox.put(inv)
        if not inv.done.wait(self.config.timeout):
            self.kill()
            inv.result = _error_payload(
                "Sandbox.Timedout",
                f"RequestId: {inv.request_id} Error: Task timed out after {self.config.timeout:.2f} seconds",
            )
            inv.error = True
            inv.done.set()
        self.current = None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
        self.dead = True

    # -- the Runtime API, called by awslambdaric inside the sandbox ---------------------------------------------

    def next_invocation(self) -> Invocation:
        if self.init_seconds is None:
            self.init_seconds = time.monotonic() - self.started
            self.emulator.stats.init_seconds.setdefault(self.config.name, []).append(self.init_seconds)
        inv = self.inbox.get()
        if self.emulator.python_flags:  # a profiling run: mark where each invocation starts in the container's log
            self.log.write(f"{INVOCATION_MARK} {inv.request_id}\n".encode())
            self.log.flush()
        return inv

    def finish(self, request_id: str, body: bytes, *, error: bool) -> bool:
        inv = self.current
        if inv is None or inv.request_id != request_id:
            return False
        inv.result, inv.error = body, error
        if inv.chunks is not None:
            inv.chunks.put(None)
        inv.done.set()
        return True

    def streaming(self, request_id: str) -> Invocation | None:
        inv = self.current
        return inv if inv is not None and inv.request_id == request_id else None

    def init_error(self, body: bytes) -> None:
        inv = self.current
        if inv is not None:
            inv.result, inv.error = body, True
            inv.done.set()
        self.kill()


def _on_hangup(conn: socket.socket, then: Callable[[], None]) -> None:
    """Call `then` once the peer of `conn` closes it: a caller gone from a stream is noticed before the next chunk."""

    def watch() -> None:
        try:
            while True:
                readable, _, _ = select.select([conn], [], [], 1.0)
                if readable and not conn.recv(1, socket.MSG_PEEK):
                    break
                if readable:
                    time.sleep(0.2)
        except (OSError, ValueError):
            pass
        then()

    threading.Thread(target=watch, daemon=True).start()


def _next_chunk(inv: Invocation) -> bytes | None:
    """The next streamed chunk, or None once the invocation is over (also when its container died or timed out)."""
    assert inv.chunks is not None
    while True:
        try:
            return inv.chunks.get(timeout=0.25)
        except queue.Empty:
            if inv.done.is_set() and inv.chunks.empty():
                return None


def _read_chunk(rfile: Any) -> bytes:
    """One chunk of a chunked request body; b"" at its end (or when the connection is cut)."""
    try:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        data = rfile.read(size) if size else b""
        rfile.readline()  # the CRLF after the chunk
    except (OSError, ValueError):
        return b""
    return data


def _link_or_copy(src: str, dst: str) -> None:
    try:
        if os.path.lexists(dst):
            os.unlink(dst)
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_spawn_queue: queue.Queue[tuple[list[str], dict[str, Any], queue.Queue[Any]]] = queue.Queue()


def _spawner() -> None:
    while True:
        argv, kwargs, reply = _spawn_queue.get()
        try:
            reply.put(subprocess.Popen(argv, **kwargs))
        except Exception as exc:
            reply.put(exc)


def _spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen from one long-lived thread: bwrap's --die-with-parent fires when the *thread* that started it ends,
    and invocations arrive on short-lived HTTP handler threads."""
    with _spawner_lock:
        if not _spawner_thread.is_alive():
            _spawner_thread.start()
    reply: queue.Queue[Any] = queue.Queue()
    _spawn_queue.put((argv, kwargs, reply))
    result = reply.get()
    if isinstance(result, Exception):
        raise result
    return result


_spawner_thread = threading.Thread(target=_spawner, name="lambda-spawner", daemon=True)
_spawner_lock = threading.Lock()


# How Lambda words a runtime that died of a signal ("Runtime exited with error: signal: killed").
_SIGNALS = {9: "killed", 15: "terminated", 6: "aborted", 11: "segmentation fault"}


def _task_of(payload: bytes) -> str:
    try:
        doc = json.loads(payload or b"{}")
    except ValueError:
        return ""
    return str(doc.get("task", "")) if isinstance(doc, dict) else ""


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _runtime_api_handler(container: Container) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != f"{RUNTIME_API}/invocation/next":
                self._reply(404)
                return
            inv = container.next_invocation()
            c = container.config
            deadline_ms = int((time.time() + c.timeout) * 1000)
            self._reply(
                200,
                inv.payload,
                {
                    "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": c.arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                    "Content-Type": "application/json",
                },
            )

        def _stream_response(self, request_id: str) -> None:
            """A response in streaming mode: chunked; each chunk goes to the caller as it arrives."""
            inv = container.streaming(request_id)
            if inv is None:
                self._reply(400, b'{"errorType":"InvalidRequestID"}')
                return
            kept: list[bytes] = []
            connection = self.connection

            def cut() -> None:
                # The caller is gone: cut the stream, as Lambda does, so the function stops writing.
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

            inv.cut = cut
            if inv.abandoned.is_set():
                cut()
            while True:
                data = _read_chunk(self.rfile)
                if not data or inv.abandoned.is_set():
                    break
                if inv.chunks is not None:
                    inv.chunks.put(data)
                else:
                    kept.append(data)
            container.finish(request_id, b"".join(kept), error=False)
            if inv.abandoned.is_set():
                self.close_connection = True
                return
            self._reply(202, b'{"status":"OK"}')

        def do_POST(self) -> None:
            parts = self.path.split("/")
            streamed = (self.headers.get("Lambda-Runtime-Function-Response-Mode") or "").lower() == "streaming"
            if streamed and len(parts) == 6 and parts[5] == "response":
                self._stream_response(parts[4])
                return
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path == f"{RUNTIME_API}/init/error":
                container.init_error(body)
                self._reply(202, b'{"status":"OK"}')
            elif len(parts) == 6 and parts[4] and parts[5] in ("response", "error"):
                ok = container.finish(parts[4], body, error=parts[5] == "error")
                self._reply(202 if ok else 400, b'{"status":"OK"}' if ok else b'{"errorType":"InvalidRequestID"}')
            else:
                self._reply(404)

    return Handler


class LambdaEmulator:
    """The invoke endpoint moto forwards to, and the containers behind it."""

    def __init__(self, *, log_dir: Path, work_dir: Path) -> None:
        # Set by bind(): moto is started after the emulator, since it needs the emulator's URL.
        self.deployment: Deployment | None = None
        self.aws_endpoint = ""
        self.lambda_client: Any = None
        self.log_dir = log_dir
        self.work_dir = work_dir
        self.credentials = ("AKIDLAMBDAEXAMPLE", "lambda-secret", "lambda-session-token")
        # Emulated SDKs: {mount point inside: host dir} put first on the path, and their own variables.
        self.sdk_mounts: dict[str, Path] = {}
        self.sdk_env: dict[str, str] = {}
        # Extra interpreter flags for new containers (benchmarks: ["-X", "importtime"] profiles each cold start).
        self.python_flags: list[str] = []
        self.runtime_dir = build_runtime_dir()
        self.stats = Stats()
        self._lock = threading.Condition()
        self.max_containers = 8
        self._idle: dict[str, list[Container]] = {}
        self._all: list[Container] = []
        self._configs: dict[str, FunctionConfig] = {}
        self._serial = 0
        self._merged: dict[tuple[Path, ...], Path] = {}
        # Asynchronous invokes (InvocationType Event): queued, retried and sent on as Lambda does (async_invoke.py).
        self.async_invoker: AsyncInvoker | None = None
        self.server = QuietHTTPServer(("127.0.0.1", 0), _invoke_handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def bind(self, deployment: Deployment, *, aws_endpoint: str, lambda_client: Any, sqs_client: Any = None) -> None:
        self.deployment = deployment
        self.aws_endpoint = aws_endpoint
        self.lambda_client = lambda_client
        self.async_invoker = AsyncInvoker(self, lambda_client=lambda_client, sqs_client=sqs_client)

    def config(self, name: str) -> FunctionConfig:
        cached = self._configs.get(name)
        if cached is not None:
            return cached
        conf = self.lambda_client.get_function_configuration(FunctionName=name)
        arch = (conf.get("Architectures") or ["x86_64"])[0]
        if arch != HOST_ARCH or conf["Runtime"] != HOST_RUNTIME:
            raise LambdaConfigError(
                f"{name} targets {conf['Runtime']} on {arch}; this machine runs {HOST_RUNTIME} on {HOST_ARCH}: "
                "synthesize for the host (stacks/synth.py) so the layer's native wheels can load"
            )
        if self.deployment is None:
            raise LambdaConfigError("the emulator is not bound to a deployment yet")
        code_dir, layer_dirs = self.deployment.function_dirs(name)
        config = FunctionConfig(
            name=name,
            arn=conf["FunctionArn"],
            handler=conf["Handler"],
            runtime=conf["Runtime"],
            timeout=float(conf.get("Timeout", 3)),
            memory=int(conf.get("MemorySize", 128)),
            env=dict(conf.get("Environment", {}).get("Variables", {})),
            log_group=(conf.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}",
            code_dir=code_dir,
            layer_dirs=layer_dirs,
        )
        self._configs[name] = config
        return config

    def merged_layers(self, dirs: list[Path]) -> Path:
        """Lambda extracts every layer into /opt in order; one layer is mounted as is."""
        if len(dirs) == 1:
            return dirs[0]
        if not dirs:
            empty = self.work_dir / "no-layers"
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        key = tuple(dirs)
        if key not in self._merged:
            target = self.work_dir / f"layers-{len(self._merged)}"
            for d in dirs:
                # Hard links: the Dexa layer is ~200 MB, and nothing writes to a layer.
                shutil.copytree(d, target, dirs_exist_ok=True, symlinks=True, copy_function=_link_or_copy)
            self._merged[key] = target
        return self._merged[key]

    def recycle(self) -> None:
        """Forget configurations and stop every container: the next invocations start cold (after a deploy)."""
        with self._lock:
            self._configs.clear()
            containers, self._all, self._idle = self._all, [], {}
        for c in containers:
            c.kill()

    def invoke(self, name: str, payload: bytes, inv: Invocation | None = None) -> Invocation:
        config = self.config(name)
        inv = inv or Invocation(payload=payload)
        with self._lock:
            self.stats.invocations[name] = self.stats.invocations.get(name, 0) + 1
            idle = self._idle.setdefault(name, [])
            while not [c for c in idle if not c.dead] and self._live(name) >= self.max_containers:
                self._lock.wait(1.0)
            container = None
            cold = not idle
            while idle and container is None:
                candidate = idle.pop()
                container = None if candidate.dead else candidate
            if container is None:
                self._serial += 1
                self.stats.cold_starts[name] = self.stats.cold_starts.get(name, 0) + 1
                container = Container(self, config, self._serial)
                self._all.append(container)
                cold = True
        started = time.monotonic()
        container.run(inv)
        self.stats.records.append((name, cold, time.monotonic() - started, _task_of(payload)))
        with self._lock:
            if not container.dead and container in self._all:
                self._idle.setdefault(name, []).append(container)
            self._lock.notify_all()
        return inv

    def kill_when(self, name: str, when: Callable[[], bool], *, timeout: float = 120) -> threading.Event:
        """Crash the runtime mid-invocation, as an out-of-memory kill or a host failure does: once `when()` holds,
        every container of `name` serving an invocation is killed (SIGKILL to its process group). The invocation
        then ends as Lambda reports a dead runtime (Runtime.ExitError, "signal: killed"). One shot; the returned
        event is set when a container was killed."""
        fired = threading.Event()

        def watch() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if when():
                    with self._lock:
                        busy = [c for c in self._all if c.config.name == name and c.current is not None]
                    for c in busy:
                        c.kill()
                    if busy:
                        fired.set()
                        return
                time.sleep(0.05)

        threading.Thread(target=watch, name=f"kill-{name}", daemon=True).start()
        return fired

    def _live(self, name: str) -> int:
        return sum(1 for c in self._all if c.config.name == name and not c.dead)

    def close(self) -> None:
        self.recycle()
        self.server.shutdown()
        self.server.server_close()


def _invoke_handler(emulator: LambdaEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            parts = self.path.split("/")
            if len(parts) == 5 and parts[1] == "2021-11-15" and parts[4] == "response-streaming-invocations":
                self._invoke_streaming(parts[3], body)
                return
            if len(parts) != 5 or parts[4] != "invocations":
                self._reply(404, b"unknown path")
                return
            name = parts[3]
            try:
                emulator.config(name)
            except (LambdaConfigError, KeyError) as exc:
                self._reply(500, f"{type(exc).__name__}: {exc}".encode())
                return
            if self.headers.get("X-Amz-Invocation-Type") == "Event":
                if emulator.async_invoker is None:
                    self._reply(500, b"the emulator is not bound to a deployment yet")
                    return
                emulator.async_invoker.submit(name, body)
                self._reply(202, b"")
                return
            inv = emulator.invoke(name, body)
            self._reply(200, inv.result, {"X-Amz-Function-Error": "Unhandled"} if inv.error else {})

        def _invoke_streaming(self, name: str, payload: bytes) -> None:
            """InvokeWithResponseStream: the function's response chunks, relayed as they arrive (chunked)."""
            try:
                emulator.config(name)
            except (LambdaConfigError, KeyError) as exc:
                self._reply(500, f"{type(exc).__name__}: {exc}".encode())
                return
            inv = Invocation(payload=payload, chunks=queue.Queue())
            threading.Thread(target=emulator.invoke, args=(name, payload, inv), daemon=True).start()
            first = _next_chunk(inv)
            if first is None:  # nothing streamed: a buffered answer or an error
                inv.done.wait()
                self._reply(200, inv.result, {"X-Amz-Function-Error": "Unhandled"} if inv.error else {})
                return
            self.send_response(200)
            self.send_header("content-type", "application/vnd.amazon.eventstream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            _on_hangup(self.connection, inv.abandon)
            chunk: bytes | None = first
            try:
                while chunk is not None:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                    chunk = _next_chunk(inv)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the caller hung up
                inv.abandon()
                self.close_connection = True

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler

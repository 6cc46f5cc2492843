"""EMULATION of Modal: the process that stands for a sandbox's container, run inside bubblewrap by server.py.

It listens on a Unix socket (bound in from the host) and, for each connection, runs one request inside the
sandbox's namespaces: an exec (its output streamed back as JSON lines) or a filesystem call (Modal's
`sb.filesystem`, which also acts inside the container). Processes an exec leaves behind (detached job
supervisors) live on in the sandbox's pid namespace until the sandbox ends, as in a Modal container.

Standard library only: it runs with the sandbox's own /usr/bin/python3.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

FS_ERRORS = {
    FileNotFoundError: "SandboxFilesystemNotFoundError",
    IsADirectoryError: "SandboxFilesystemIsADirectoryError",
    NotADirectoryError: "SandboxFilesystemNotADirectoryError",
    PermissionError: "SandboxFilesystemPermissionError",
    FileExistsError: "SandboxFilesystemPathAlreadyExistsError",
}


def send(conn: socket.socket, lock: threading.Lock, doc: dict) -> None:
    data = (json.dumps(doc) + "\n").encode()
    with lock:
        conn.sendall(data)


def pump(stream, kind: str, conn: socket.socket, lock: threading.Lock) -> None:
    while True:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            return
        send(conn, lock, {"t": kind, "d": base64.b64encode(chunk).decode()})


def run_exec(conn: socket.socket, req: dict, base_env: dict, workdir: str) -> None:
    lock = threading.Lock()
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    env.update(base_env)
    env.update({k: v for k, v in (req.get("env") or {}).items() if v is not None})
    try:
        proc = subprocess.Popen(
            req["argv"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=req.get("workdir") or workdir,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        send(conn, lock, {"t": "err", "d": base64.b64encode(f"exec failed: {exc}\n".encode()).decode()})
        send(conn, lock, {"t": "exit", "code": 127})
        return
    readers = [
        threading.Thread(target=pump, args=(proc.stdout, "out", conn, lock), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "err", conn, lock), daemon=True),
    ]
    for t in readers:
        t.start()
    timeout = req.get("timeout")
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    for t in readers:
        t.join(5)
    send(conn, lock, {"t": "exit", "code": code})


def file_info(path: str) -> dict:
    st = os.lstat(path)
    kind = "symlink" if stat.S_ISLNK(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode) else "file"
    return {
        "name": os.path.basename(path),
        "path": path,
        "type": kind,
        "size": st.st_size,
        "mode": st.st_mode,
        "permissions": stat.filemode(st.st_mode),
        "owner": str(st.st_uid),
        "group": str(st.st_gid),
        "modified_time": st.st_mtime,
        "symlink_target": os.readlink(path) if kind == "symlink" else None,
    }


def run_fs(req: dict) -> dict:
    fn, path = req["fn"], req["path"]
    if fn == "read_bytes":
        if os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory", path)
        with open(path, "rb") as fh:
            return {"data": base64.b64encode(fh.read()).decode()}
    if fn == "write_bytes":
        if os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory", path)
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(req["data"]))
        return {}
    if fn == "stat":
        return {"info": file_info(path)}
    if fn == "list_files":
        return {"infos": [file_info(os.path.join(path, n)) for n in sorted(os.listdir(path))]}
    if fn == "make_directory":
        if req.get("create_parents", True):
            os.makedirs(path, exist_ok=True)
        else:
            os.mkdir(path)
        return {}
    if fn == "remove":
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path) if req.get("recursive") else os.rmdir(path)
        else:
            os.unlink(path)
        return {}
    raise ValueError(f"unknown filesystem call {fn}")


def serve(conn: socket.socket, base_env: dict, workdir: str) -> None:
    with conn:
        buf = b""
        while b"\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        req = json.loads(buf.split(b"\n", 1)[0])
        if req["op"] == "exec":
            run_exec(conn, req, base_env, workdir)
            return
        try:
            out = {"ok": True, **run_fs(req)}
        except OSError as exc:
            name = next((v for k, v in FS_ERRORS.items() if isinstance(exc, k)), "SandboxFilesystemError")
            out = {"ok": False, "error": name, "message": f"{exc.strerror or exc}: {req.get('path')}"}
        except ValueError as exc:
            out = {"ok": False, "error": "InvalidError", "message": str(exc)}
        conn.sendall((json.dumps(out) + "\n").encode())


def main() -> None:
    sock_path, config_path = sys.argv[1], sys.argv[2]
    with open(config_path) as fh:
        config = json.load(fh)
    workdir = config.get("workdir") or "/"
    os.makedirs(workdir, exist_ok=True)
    for mount in config.get("mkdirs", []):
        os.makedirs(mount, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    server.bind(sock_path)
    server.listen(64)
    print("ready", flush=True)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn, config.get("env") or {}, workdir), daemon=True).start()
        time.sleep(0)


if __name__ == "__main__":
    main()

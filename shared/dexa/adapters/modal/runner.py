"""The job runner that executes inside the Modal sandbox (`python3 -c RUNNER <mode> ...`).

The journal lives on the workspace volume, so it outlives the sandbox too. Each sandbox (container) gets a random
instance id in its own /tmp on first use; a job records the instance it ran in, so after a restart its pids (which
mean nothing in the new container) are never probed: the job is reported killed, never re-run.

A Lambda may die mid-command while the sandbox keeps running, so every command is a detached job with a journal
directory the next Lambda can read (the same idea as the local sandbox's journal):

    started   O_EXCL claim ("run" or "abandoned"): a job runs at most once
    meta.json command, cwd, start time, timeout
    supervisor  the process that waits for the command and writes `exit`
    pid       the command's process group (killpg target)
    stdout, stderr, cwd                         written by the command
    exit      exit status + newline, written by the supervisor (or by wait/kill)
    timed_out / killed                          markers

Modes (all print one JSON object, except `wait` which streams the job's stdout):
    start   JOBDIR CWD TIMEOUT_S BACKGROUND COMMAND   spawn the job detached; {"state": "started"|"exists"}
    wait    JOBDIR WAIT_S STREAM KILL                  until the exit file appears; when WAIT_S runs out, kill the
                                                       job if KILL is 1 (a foreground timeout) or just return
    collect JOBDIR CAP REMOVE                          the journal as JSON (exit_code, stdout, stderr, cwd, ...);
                                                       REMOVE=1 deletes it afterwards (unjournaled commands)
    abandon JOBDIR                                     claim a job that never started; {"claimed": bool}
    init    MARKER NONCE CREATE DIR...                 the workspace marker: write NONCE if absent and CREATE is
                                                       1 (O_EXCL, so racing creators agree), mkdir DIRs; returns
                                                       {"nonce": the marker's nonce or null}
    poll    JOBDIR SINCE CAP                           {"running", "exit_code", "output", "offset", "command"}
    run     JOBDIR CWD TIMEOUT_S STREAM CAP REMOVE COMMAND
                                                       start + wait (kill at the timeout) + collect in one exec:
                                                       the job's stdout streams on stdout, the collected JSON
                                                       comes last on stderr (one round trip per command)
    kill    JOBDIR                                     kill the process group, mark it; then as poll 0
    cancel  JOBDIR                                     a cancelled foreground exec: claim the job if it has not
                                                       started (it never will), else wait briefly for its pid and
                                                       kill the process group; {"state": "abandoned"|"killed"|"done"}
"""

from __future__ import annotations

RUNNER = r"""
import json, os, signal, sys, time

def path(d, name): return os.path.join(d, name)

def read(d, name, default=""):
    try:
        with open(path(d, name), "rb") as fh: return fh.read().decode(errors="replace")
    except OSError: return default

def capped(d, name, cap):
    try:
        with open(path(d, name), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size <= cap: return fh.read().decode(errors="replace")
            head = fh.read(cap // 2); fh.seek(size - cap // 2); tail = fh.read()
    except OSError: return ""
    omitted = "\n... [%d bytes omitted] ...\n" % (size - len(head) - len(tail))
    return head.decode(errors="replace") + omitted + tail.decode(errors="replace")

def exit_code(d):
    text = read(d, "exit")
    if not text.endswith("\n"): return None
    try: return int(text.strip())
    except ValueError: return None

def write_exit(d, code, marker=None):
    if marker:
        with open(path(d, marker), "w") as fh: fh.write("%f\n" % time.time())
    if exit_code(d) is None:
        with open(path(d, "exit"), "w") as fh: fh.write("%d\n" % code)
        durable(path(d, "exit")); durable(d)

INSTANCE_FILE = "/tmp/.dexa-instance"

def instance():
    try:
        fd = os.open(INSTANCE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, os.urandom(8).hex().encode()); os.close(fd)
    except FileExistsError: pass
    with open(INSTANCE_FILE) as fh: return fh.read().strip()

def same_instance(d):
    try: meta = json.loads(read(d, "meta.json") or "{}")
    except ValueError: return True
    return meta.get("instance") in (None, instance())

def durable(fd_path):
    # The journal is on a volume: flush it, so a sandbox ended right after the job does not lose the result.
    try:
        fd = os.open(fd_path, os.O_RDONLY); os.fsync(fd); os.close(fd)
    except OSError: pass

def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh: return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError): pass
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    except PermissionError: return True
    return True

def alive(d):
    if not same_instance(d): return False  # ran in a sandbox that has ended: its processes died with it
    # The supervisor outlives the command until it has written the exit file, so check it first: the command's
    # group can be gone while its exit status is still being recorded.
    try:
        if pid_alive(int(read(d, "supervisor").strip())): return True
    except ValueError: pass
    try: pid = int(read(d, "pid").strip())
    except ValueError: return False
    try: os.killpg(pid, 0)
    except ProcessLookupError: return False
    except PermissionError: return True
    return True

def kill(d):
    try: os.killpg(int(read(d, "pid").strip()), signal.SIGKILL)
    except (ValueError, ProcessLookupError, PermissionError): pass

def claim(d, what):
    try: fd = os.open(path(d, "started"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError: return False
    os.write(fd, what.encode()); os.close(fd); return True

def start(d, cwd, timeout_s, background, command):
    os.makedirs(d, exist_ok=True)
    if not claim(d, "run\n"):
        return {"state": "exists"}
    with open(path(d, "meta.json"), "w") as fh:
        json.dump({"command": command, "cwd": cwd, "started_at": time.time(), "timeout_s": timeout_s,
                   "background": background, "instance": instance()}, fh)
    durable(path(d, "started")); durable(d)
    if os.fork():
        os.wait()  # the intermediate child exits at once; the supervisor is re-parented
        return {"state": "started"}
    os.setsid()
    if os.fork(): os._exit(0)
    supervise(d, cwd, timeout_s, background, command)
    os._exit(0)

def supervise(d, cwd, timeout_s, background, command):
    # Drop the caller's pipes: the exec that started us must end now, not when the job does.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2): os.dup2(null, fd)
    os.closerange(3, 256)
    with open(path(d, "supervisor"), "w") as fh: fh.write("%d\n" % os.getpid())
    out = os.open(path(d, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = out if background else os.open(path(d, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    cwdf = os.open(path(d, "cwd"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0); os.dup2(out, 1); os.dup2(err, 2); os.dup2(cwdf, 3)
        try: os.chdir(cwd)
        except OSError as exc:
            os.write(2, ("dexa: cannot enter %s: %s\n" % (cwd, exc)).encode()); os._exit(1)
        shell = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"
        os.execv(shell, [shell, "-c", "trap 'pwd -P >&3 2>/dev/null' EXIT; " + command])
    with open(path(d, "pid"), "w") as fh: fh.write("%d\n" % child)
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            write_exit(d, 128 - code if code < 0 else code)
            return
        if deadline is not None and time.monotonic() > deadline:
            try: os.killpg(child, signal.SIGKILL)
            except ProcessLookupError: pass
            os.waitpid(child, 0)
            write_exit(d, 137, "timed_out")
            return
        time.sleep(0.02)

def wait(d, wait_s, stream, kill_on_timeout):
    started = time.monotonic(); offset = 0; delay = 0.005
    while True:
        if stream:
            try:
                with open(path(d, "stdout"), "rb") as fh:
                    fh.seek(offset); chunk = fh.read()
                if chunk:
                    offset += len(chunk); sys.stdout.buffer.write(chunk); sys.stdout.flush()
            except OSError: pass
        if exit_code(d) is not None: break
        if not alive(d) and time.monotonic() - started > 1.0:
            write_exit(d, 137, "killed"); break
        if time.monotonic() - started > wait_s:
            if kill_on_timeout: kill(d); write_exit(d, 137, "timed_out")
            break
        time.sleep(delay); delay = min(delay * 2, 0.1)
    if stream:
        try:
            with open(path(d, "stdout"), "rb") as fh:
                fh.seek(offset); sys.stdout.buffer.write(fh.read()); sys.stdout.flush()
        except OSError: pass

def cancel(d):
    os.makedirs(d, exist_ok=True)
    if claim(d, "abandoned\n"): return {"state": "abandoned"}
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:  # the start that won the claim writes the pid a moment later
        if exit_code(d) is not None: return {"state": "done"}
        if read(d, "pid").strip():
            kill(d); write_exit(d, 137, "killed"); return {"state": "killed"}
        time.sleep(0.02)
    return {"state": "done" if exit_code(d) is not None else "unknown"}

def collect(d, cap):
    if not os.path.isdir(d): return {"exists": False}
    meta = {}
    try: meta = json.loads(read(d, "meta.json") or "{}")
    except ValueError: pass
    started_at = float(meta.get("started_at") or 0)
    finished = os.path.getmtime(path(d, "exit")) if os.path.exists(path(d, "exit")) else time.time()
    cwd_lines = [l for l in read(d, "cwd").splitlines() if l.strip()]
    started = read(d, "started")
    return {"exists": True, "started": bool(started), "abandoned": started == "abandoned\n",
            "running": exit_code(d) is None and alive(d), "exit_code": exit_code(d),
            "stdout": capped(d, "stdout", cap), "stderr": capped(d, "stderr", cap),
            "cwd": cwd_lines[-1] if cwd_lines else "", "timed_out": os.path.exists(path(d, "timed_out")),
            "duration_ms": max(0, int((finished - started_at) * 1000)) if started_at else 0}

def poll(d, since, cap):
    if not os.path.isdir(d): return {"exists": False}
    running = exit_code(d) is None and alive(d)
    if not running and exit_code(d) is None and read(d, "started") == "run\n":
        write_exit(d, 137, "killed")
    data = b""
    try:
        with open(path(d, "stdout"), "rb") as fh: fh.seek(since); data = fh.read(cap)
    except OSError: pass
    cut = len(data)
    if running:  # leave a trailing partial UTF-8 sequence for the next poll
        i = len(data) - 1
        while i >= 0 and len(data) - i < 4 and data[i] & 0xC0 == 0x80: i -= 1
        if i >= 0:
            lead = data[i]; need = 2 if lead >> 5 == 6 else 3 if lead >> 4 == 14 else 4 if lead >> 3 == 30 else 1
            if len(data) - i < need: cut = i
    try: command = json.loads(read(d, "meta.json") or "{}").get("command", "")
    except ValueError: command = ""
    return {"exists": True, "running": running, "exit_code": exit_code(d), "command": command,
            "output": data[:cut].decode(errors="replace"), "offset": since + cut}

def init(marker, nonce, create, dirs):
    for p in dirs: os.makedirs(p, exist_ok=True)
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    if create:
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, json.dumps({"nonce": nonce, "created_at": time.time()}).encode()); os.fsync(fd); os.close(fd)
        except FileExistsError: pass
    try:
        with open(marker) as fh: return {"nonce": json.load(fh).get("nonce"), "instance": instance()}
    except (OSError, ValueError): return {"nonce": None, "instance": instance()}

def main(argv):
    mode, d = argv[0], argv[1]
    if mode == "start": out = start(d, argv[2], float(argv[3]), argv[4] == "1", argv[5])
    elif mode == "wait": wait(d, float(argv[2]), argv[3] == "1", argv[4] == "1"); return
    elif mode == "collect":
        out = collect(d, int(argv[2]))
        if len(argv) > 3 and argv[3] == "1":
            import shutil; shutil.rmtree(d, ignore_errors=True)
    elif mode == "abandon":
        os.makedirs(d, exist_ok=True); out = {"claimed": claim(d, "abandoned\n")}
    elif mode == "poll": out = poll(d, int(argv[2]), int(argv[3]))
    elif mode == "kill":
        if exit_code(d) is None and alive(d): kill(d); write_exit(d, 137, "killed")
        out = poll(d, 0, int(argv[2]) if len(argv) > 2 else 1 << 20)
    elif mode == "cancel": out = cancel(d)
    elif mode == "init": out = init(d, argv[2], argv[3] == "1", argv[4:])
    elif mode == "run":
        timeout_s = float(argv[3])
        start(d, argv[2], timeout_s, False, argv[7])
        wait(d, timeout_s + 5.0, argv[4] == "1", True)
        out = collect(d, int(argv[5]))
        if argv[6] == "1":
            import shutil; shutil.rmtree(d, ignore_errors=True)
        sys.stderr.write(json.dumps(out)); sys.stderr.flush(); return
    else: raise SystemExit("unknown mode " + mode)
    sys.stdout.write(json.dumps(out)); sys.stdout.flush()

main(sys.argv[1:])
"""

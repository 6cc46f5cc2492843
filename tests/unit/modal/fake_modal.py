"""A fake of the modal 1.6 surface ModalSandbox uses, backed by real local processes and files.

Only the `.aio` forms exist (that is all the adapter calls). Sandbox paths are host paths, so tests point the
workspace root and the job state dir at temp directories; commands and the job runner really run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any


class _Errors(types.SimpleNamespace):
    pass


class Error(Exception):
    pass


class NotFoundError(Error):
    pass


class AlreadyExistsError(Error):
    pass


class AuthError(Error):
    pass


class SandboxTerminatedError(Error):
    pass


class SandboxFilesystemError(Error):
    pass


class SandboxFilesystemNotFoundError(SandboxFilesystemError):
    pass


class SandboxFilesystemIsADirectoryError(SandboxFilesystemError):
    pass


def _aio(fn: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(aio=fn)


class FakeStream:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self.read = _aio(self._read)

    async def _read(self) -> str:
        return (await self._reader.read()).decode(errors="replace")

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        while line := await self._reader.readline():
            yield line.decode(errors="replace")


class FakeProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self.stdout = FakeStream(proc.stdout)
        self.stderr = FakeStream(proc.stderr)
        self.wait = _aio(self._wait)

    async def _wait(self) -> int:
        return await self._proc.wait()


class FileInfo(types.SimpleNamespace):
    pass


class FakeFilesystem:
    def __init__(self, sandbox: FakeSandbox) -> None:
        self._sb = sandbox
        for name in ("read_bytes", "write_bytes", "stat", "remove", "make_directory", "list_files"):
            setattr(self, name, _aio(getattr(self, f"_{name}")))

    def _check(self, path: str) -> Path:
        self._sb.check_alive()
        self._sb.calls.append(("fs", path))
        return Path(path)

    async def _read_bytes(self, path: str) -> bytes:
        p = self._check(path)
        if p.is_dir():
            raise SandboxFilesystemIsADirectoryError(path)
        if not p.exists():
            raise SandboxFilesystemNotFoundError(path)
        return p.read_bytes()

    async def _write_bytes(self, data: bytes, path: str) -> None:
        p = self._check(path)
        if not p.parent.is_dir():
            raise SandboxFilesystemNotFoundError(path)
        p.write_bytes(data)

    async def _stat(self, path: str) -> FileInfo:
        p = self._check(path)
        if not p.exists():
            raise SandboxFilesystemNotFoundError(path)
        kind = types.SimpleNamespace(value="directory" if p.is_dir() else "file")
        return FileInfo(name=p.name, path=path, type=kind, size=p.stat().st_size, modified_time=p.stat().st_mtime)

    async def _remove(self, path: str, *, recursive: bool = False) -> None:
        p = self._check(path)
        if not p.exists():
            raise SandboxFilesystemNotFoundError(path)
        if p.is_dir():
            shutil.rmtree(p) if recursive else p.rmdir()
        else:
            p.unlink()

    async def _make_directory(self, path: str, *, create_parents: bool = True) -> None:
        self._check(path).mkdir(parents=create_parents, exist_ok=True)

    async def _list_files(self, path: str) -> list[FileInfo]:
        return [await self._stat(str(c)) for c in self._check(path).iterdir()]


class FakeSandbox:
    def __init__(self, registry: FakeModal, name: str, options: dict[str, Any]) -> None:
        self.registry, self.name, self.options = registry, name, options
        self.object_id = f"sb-{len(registry.created)}"
        self.terminated = False
        self.calls: list[tuple[Any, ...]] = []
        self.filesystem = FakeFilesystem(self)
        self.exec = _aio(self._exec)
        self.terminate = _aio(self._terminate)
        self.detach = _aio(self._detach)
        self.poll = _aio(self._poll)

    async def _poll(self) -> int | None:
        return 0 if self.terminated else None

    def check_alive(self) -> None:
        if self.terminated:
            raise SandboxTerminatedError(self.name)

    async def _exec(
        self, *args: str, env: dict[str, str] | None = None, timeout: int | None = None, **_: Any
    ) -> FakeProcess:
        self.check_alive()
        self.calls.append(("exec", args, dict(env or {})))
        if args and args[0] == "python3":  # this interpreter without site: the pyenv shim costs ~150 ms a call
            args = (sys.executable, "-S", *args[1:])
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        )
        return FakeProcess(proc)

    async def _terminate(self) -> None:
        self.terminated = True
        self.registry.sandboxes.pop(self.name, None)

    async def _detach(self) -> None:
        self.calls.append(("detach", None))


class FakeModal:
    """Module-like: .Sandbox.create/from_name, .App.lookup, .Image, .exception."""

    def __init__(self) -> None:
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.created: list[FakeSandbox] = []
        self.exception = _Errors(
            Error=Error,
            NotFoundError=NotFoundError,
            AlreadyExistsError=AlreadyExistsError,
            AuthError=AuthError,
            SandboxTerminatedError=SandboxTerminatedError,
            SandboxFilesystemNotFoundError=SandboxFilesystemNotFoundError,
        )
        self.Sandbox = types.SimpleNamespace(create=_aio(self._create), from_name=_aio(self._from_name))
        self.volumes: dict[str, types.SimpleNamespace] = {}
        self.Volume = types.SimpleNamespace(from_name=self._volume)  # lazy and synchronous, as in modal 1.6
        self.App = types.SimpleNamespace(lookup=_aio(self._lookup))
        self.Image = FakeImage

    def _volume(
        self, name: str, *, create_if_missing: bool = False, environment_name: str | None = None
    ) -> types.SimpleNamespace:
        async def hydrate() -> types.SimpleNamespace:
            if name not in self.volumes:
                if not create_if_missing:
                    raise NotFoundError(name)
                self.volumes[name] = volume
            return self.volumes[name]

        volume = types.SimpleNamespace(name=name, hydrate=_aio(hydrate))
        return self.volumes.get(name, volume)

    async def _lookup(self, name: str, *, create_if_missing: bool = False, environment_name: str | None = None) -> Any:
        return types.SimpleNamespace(name=name)

    async def _create(
        self, *args: str, app: Any = None, name: str | None = None, image: Any = None, **options: Any
    ) -> FakeSandbox:
        assert name is not None and app is not None and image is not None
        await asyncio.sleep(0)  # let racing creators interleave, as real network calls would
        if name in self.sandboxes:
            raise AlreadyExistsError(name)
        sandbox = FakeSandbox(self, name, {"app": app.name, "image": image, **options})
        self.sandboxes[name] = sandbox
        self.created.append(sandbox)
        return sandbox

    async def _from_name(self, app_name: str, name: str, *, environment_name: str | None = None) -> FakeSandbox:
        if name not in self.sandboxes:
            raise NotFoundError(name)
        return self.sandboxes[name]


class FakeImage:
    """Chainable stand-in for modal.Image (builds are lazy in modal too)."""

    def __init__(self, steps: tuple[tuple[str, tuple[Any, ...]], ...] = ()) -> None:
        self.steps = steps

    @classmethod
    def debian_slim(cls, python_version: str | None = None) -> FakeImage:
        return cls((("debian_slim", (python_version,)),))

    def __getattr__(self, name: str) -> Any:
        def step(*args: Any, **kwargs: Any) -> FakeImage:
            return FakeImage((*self.steps, (name, args + tuple(sorted(kwargs.items())))))

        return step

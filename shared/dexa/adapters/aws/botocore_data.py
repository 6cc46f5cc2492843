"""botocore's data files, parsed once when the Lambda layer is built instead of once per cold container.

A process's first botocore client reads JSON: endpoints.json (1.2 MB), the service's model and endpoint rules,
each parsed with an OrderedDict per object; and it lists the whole data directory (~470 services, an isdir and a
listdir each) twice, only to check the service's name. Measured in a cold API container from the layer: ~65 ms of
CPU before the authorizer's first GetItem, of which marshal-loading the same data leaves ~8 ms.

`build()` (run by layers/dexa/build.sh with the layer's own botocore and the target's Python) writes the data files
of the services Dexa's functions call (SERVICES) and the shared ones as marshal, beside the dexa package, with an
index: the botocore version, the files written and what `Loader.list_available_services` answers per type. `loader()`
gives clients.py a botocore `Loader` that serves those files from there and everything else as botocore does. It is
botocore's own Loader class, given a file loader (its documented `file_loader` argument) and the index's service
lists; paths, versions and lookup order are botocore's, so a file a user put on AWS_DATA_PATH or in ~/.aws/models
still wins, as it would. Dicts come back as plain dicts (insertion-ordered) instead of OrderedDicts: nothing in
botocore relies on the difference.

Nothing is used when the index is missing (a source checkout, a test), unreadable, written for another botocore or
Python, or writable by anyone but its owner (marshal data is trusted like bytecode): then botocore's own loader.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

# Beside the dexa package in the layer (/opt/python/dexa/_botocore_data), read-only there.
LAYER_DIR: Final = Path(__file__).resolve().parents[2] / "_botocore_data"
INDEX: Final = f"index-{sys.implementation.cache_tag}.marshal"
FORMAT: Final = 1
# Every service a Dexa function makes a client for (aws_client / shared_client / LazyClient callers; a unit test
# checks the list against the source). Another service still works, parsed from JSON.
SERVICES: Final = (
    "apigateway",
    "dynamodb",
    "kms",
    "s3",
    "scheduler",
    "secretsmanager",
    "sesv2",
    "ssm",
    "stepfunctions",
)
# Read by every process's first client, whatever the service.
SHARED_FILES: Final = ("endpoints", "partitions", "sdk-default-configuration", "_retry")
# What botocore asks list_available_services about (load_service_model's type names).
TYPE_NAMES: Final = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2", "examples-1")


def _trusted(path: Path) -> bool:
    from dexa.core.codecache import trusted

    try:
        return trusted(path.stat())
    except OSError:
        return False


def _builtin_dir() -> str:
    from botocore.loaders import Loader

    return os.path.join(Loader.BUILTIN_DATA_PATH, "")


def build(out: Path, services: Iterable[str] = SERVICES) -> int:
    """Write the shared data files and every data file of `services` under `out` as marshal (read-only, 0444),
    then the index; the number of files written."""
    import botocore
    from botocore.loaders import JSONFileLoader, Loader

    builtin = _builtin_dir()
    plain = Loader(extra_search_paths=[builtin.rstrip(os.sep)], include_default_search_paths=False)
    names: list[str] = list(SHARED_FILES)
    for service in services:
        if not os.path.isdir(os.path.join(builtin, service)):
            raise ValueError(f"botocore {botocore.__version__} has no data for service {service!r}")
        for folder, _, files in os.walk(os.path.join(builtin, service)):
            for file in files:
                for ext in (".json.gz", ".json"):
                    if file.endswith(ext) and not file.startswith("examples-"):  # documentation only
                        names.append(os.path.relpath(os.path.join(folder, file[: -len(ext)]), builtin))
    reader = JSONFileLoader()
    written: list[str] = []
    for name in sorted(set(names)):
        data = reader.load_file(os.path.join(builtin, name))
        if data is None:
            continue
        target = out / f"{name}.marshal"
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, marshal.dumps(_plain(data)))
        written.append(name)
    listed = {type_name: list(plain.list_available_services(type_name)) for type_name in TYPE_NAMES}
    index = {"format": FORMAT, "botocore": botocore.__version__, "files": written, "services": listed}
    _write(out / INDEX, marshal.dumps(index))
    return len(written)


def _write(path: Path, data: bytes) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.write_bytes(data)
    path.chmod(0o444)


def _plain(value: Any) -> Any:
    """JSON data as marshal can hold it: OrderedDicts become dicts (same order)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_plain(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def _index(root: Path) -> dict[str, Any] | None:
    import botocore

    path = root / INDEX
    if not (_trusted(root) and _trusted(path)):
        return None
    try:
        index = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("botocore") != botocore.__version__:
        return None
    return index  # pyright: ignore[reportUnknownVariableType]


def loader(data_path: str | None = None, *, root: Path = LAYER_DIR) -> Any:
    """A botocore Loader reading the pre-parsed data under `root`, searching `data_path` first as botocore's own
    loader does (the session's `data_path`: AWS_DATA_PATH); None when there is nothing usable under `root`."""
    index = _index(root)
    if index is None:
        return None
    from botocore.loaders import JSONFileLoader, Loader

    builtin = _builtin_dir()
    files = frozenset(index["files"])

    class ShippedFiles(JSONFileLoader):
        """botocore's JSON file loader, but a pre-parsed file of its own data directory comes from `root`."""

        def load_file(self, file_path: str) -> Any:
            if file_path.startswith(builtin):
                name = file_path[len(builtin) :]
                if name in files:
                    with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
                        return marshal.loads((root / f"{name}.marshal").read_bytes())
            return super().load_file(file_path)

    class ShippedLoader(Loader):
        """botocore's Loader; the service names of its own data directory come from the index, unless another
        search path exists (then botocore lists them all, as it would)."""

        def list_available_services(self, type_name: str) -> list[str]:
            listed = index["services"].get(type_name)
            others = [p for p in self.search_paths if os.path.join(p, "") != builtin and os.path.isdir(p)]
            if listed is None or others:
                return super().list_available_services(type_name)
            return list(listed)

    extra = None
    if data_path is not None:  # as botocore.loaders.create_loader reads it
        extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
    return ShippedLoader(extra_search_paths=extra, file_loader=ShippedFiles())


if __name__ == "__main__":
    # python -m dexa.adapters.aws.botocore_data OUT|-   ("-": the layer's directory, beside the dexa package)
    target = LAYER_DIR if sys.argv[1] == "-" else Path(sys.argv[1])
    count = build(target, sys.argv[2:] or SERVICES)
    print(f"{count} botocore data files pre-parsed into {target}")

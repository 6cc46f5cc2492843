"""FileBlobStore's batch path: digests, the newly-stored flag, dedup within and across batches."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from dexa.adapters.sqlite import FileBlobStore


def test_put_blobs_reports_new_and_existing_content_and_round_trips(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")

    async def main() -> None:
        first = await store.put_blobs([b"a", b"b", b"a"])
        assert [d for d, _ in first] == [hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"a")]
        assert sum(1 for _, new in first if new) == 2  # the duplicate inside the batch is stored once
        second = await store.put_blobs([b"b", b"c"])
        assert [new for _, new in second] == [False, True]
        assert await store.get_blob(second[1][0]) == b"c"
        assert await store.put_blob(b"c") == second[1][0]

    asyncio.run(main())

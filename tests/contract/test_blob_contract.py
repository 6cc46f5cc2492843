"""The BlobStore port contract: FileBlobStore and S3BlobStore (moto) pass the same tests."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from dexa.core.errors import NotFoundError
from dexa.core.ports import BlobStore


def test_put_returns_the_sha256_and_get_returns_the_bytes(blobs: BlobStore) -> None:
    data = b"hello \x00 world"

    async def main() -> None:
        digest = await blobs.put_blob(data)
        assert digest == hashlib.sha256(data).hexdigest()
        assert await blobs.get_blob(digest) == data
        assert await blobs.has_blob(digest)

    asyncio.run(main())


def test_put_is_idempotent_and_concurrent_writers_agree(blobs: BlobStore) -> None:
    data = b"same bytes" * 1000

    async def main() -> None:
        digests = await asyncio.gather(*(blobs.put_blob(data) for _ in range(8)))
        assert len(set(digests)) == 1
        assert await blobs.get_blob(digests[0]) == data

    asyncio.run(main())


def test_empty_and_large_blobs_round_trip(blobs: BlobStore) -> None:
    large = bytes(range(256)) * 8192  # 2 MiB

    async def main() -> None:
        for data in (b"", large):
            assert await blobs.get_blob(await blobs.put_blob(data)) == data

    asyncio.run(main())


def test_missing_blob_is_not_found_and_has_is_false(blobs: BlobStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()

    async def main() -> None:
        assert not await blobs.has_blob(missing)
        with pytest.raises(NotFoundError):
            await blobs.get_blob(missing)

    asyncio.run(main())


@pytest.mark.parametrize("digest", ["", "abc", "../" + "a" * 61, "G" * 64, "A" * 64])
def test_a_malformed_digest_is_rejected_as_not_found(blobs: BlobStore, digest: str) -> None:
    async def main() -> None:
        with pytest.raises(NotFoundError):
            await blobs.get_blob(digest)

    asyncio.run(main())

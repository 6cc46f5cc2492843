"""Content-addressed blobs in S3: blobs/ab/cdef... (sha256). Large tool outputs, transcripts, checkpoint content.

Keys are derived from the content, so a put is idempotent and concurrent writers of the same bytes agree. The
bucket's default encryption (KMS, set by the data stack) applies; nothing here passes keys or secrets.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import anyio.to_thread

from dexa.core.errors import NotFoundError, StorageError

from . import schema
from ._ddb import error_code

logger = logging.getLogger(__name__)

_MISSING = ("404", "NoSuchKey", "NotFound")


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise NotFoundError(f"not a sha256 digest: {digest!r}")


class S3BlobStore:
    def __init__(self, bucket: str, *, client: Any = None, region: str | None = None) -> None:
        if not bucket:
            raise StorageError(f"S3BlobStore needs a bucket name (set {schema.ENV_BUCKET})")
        self.bucket = bucket
        self._client, self._region = client, region

    @property
    def _s3(self) -> Any:
        # Made on first use: an S3 client costs a cold start ~50 ms (its service model and endpoint rules), and
        # most agent steps store no blob.
        if self._client is None:
            from .clients import aws_client

            self._client = aws_client("s3", region=self._region)
        return self._client

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, client: Any = None) -> S3BlobStore:
        return cls(
            env.get(schema.ENV_BUCKET, ""), client=client, region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        )

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._s3, op)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                raise NotFoundError(f"s3://{self.bucket}/{kwargs.get('Key', '')} not found") from exc
            raise StorageError(f"S3 {op} on {self.bucket!r} failed: {type(exc).__name__}: {exc}") from exc

    def _exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            # A HEAD has no error body: S3 answers a missing key with 403 when it will not say "absent" (no
            # s3:ListBucket, or a bucket policy's deny). Unknown means upload: the key is content-addressed.
            if error_code(exc) in (*_MISSING, "403", "Forbidden", "AccessDenied"):
                return False
            raise StorageError(f"S3 head_object on {self.bucket!r} failed: {type(exc).__name__}: {exc}") from exc
        return True

    async def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = schema.blob_key(digest)

        def run() -> None:
            # HEAD first: re-uploading a large blob that is already there costs bandwidth, not correctness.
            if not self._exists(key):
                self._call("put_object", Key=key, Body=data, ContentType="application/octet-stream")

        await anyio.to_thread.run_sync(run)
        return digest

    async def get_blob(self, digest: str) -> bytes:
        _check_digest(digest)

        def run() -> bytes:
            return self._call("get_object", Key=schema.blob_key(digest))["Body"].read()

        return await anyio.to_thread.run_sync(run)

    async def has_blob(self, digest: str) -> bool:
        _check_digest(digest)
        return await anyio.to_thread.run_sync(lambda: self._exists(schema.blob_key(digest)))

    async def put_named(self, key: str, data: bytes, *, content_type: str = "application/json") -> str:
        """Store at a chosen key (transcripts/...): for objects addressed by name rather than content."""
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid object key {key!r}")
        await anyio.to_thread.run_sync(lambda: self._call("put_object", Key=key, Body=data, ContentType=content_type))
        return f"s3://{self.bucket}/{key}"

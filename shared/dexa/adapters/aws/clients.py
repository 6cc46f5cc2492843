"""AWS service clients made with botocore alone.

`boto3.client` is botocore's `create_client` plus what boto3 adds for resources and S3 transfers, none of which
Dexa uses; importing boto3 costs every cold Lambda ~25 ms of CPU and ~60 modules (s3transfer, multiprocessing) on
top of botocore. Outside Lambda each client gets a fresh botocore session, so it resolves its credentials, region and
endpoint (AWS_ENDPOINT_URL included) from the environment as it is then. In a Lambda container, whose environment
never changes, every client comes from one session, as boto3's default session would make them: a session costs
its construction, handler registry, credential chain and endpoint resolver (~8-10 ms of CPU per client after the
first). Every session shares one data loader, so service models and endpoint rules are read once per process, and
in the Lambda layer they come pre-parsed (botocore_data.py).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_loader: Any = None
_session: Any = None  # a Lambda container's one session
_session_lock = threading.Lock()  # botocore sessions are not thread-safe; the clients they make are
_share_lock = threading.Lock()  # not _lock: aws_client takes that one inside
_shared: dict[tuple[str, str | None], Any] = {}


def aws_client(service: str, *, region: str | None = None, **kwargs: Any) -> Any:
    """A low-level client for `service` (`region=None`: the environment's region), like `boto3.client(...)`."""
    global _session
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        with _session_lock:
            if _session is None:
                _session = _new_session()
            return _session.create_client(service, region_name=region, **kwargs)
    return _new_session().create_client(service, region_name=region, **kwargs)


def _new_session() -> Any:
    import botocore.session

    from . import botocore_data

    global _loader
    session = botocore.session.Session()
    with _lock:
        if _loader is None:
            # The layer's pre-parsed data when there is any, else botocore's own loader (AWS_DATA_PATH honoured).
            _loader = botocore_data.loader(session.get_config_variable("data_path"))
            if _loader is None:
                _loader = session.get_component("data_loader")
        session.register_component("data_loader", _loader)
    return session


def shared_client(service: str, *, region: str | None = None, **kwargs: Any) -> Any:
    """In a Lambda container, one client per service and region for the whole process: the API function's
    authorizer and its runtime both read the table, and each DynamoDB client costs a cold start its session,
    credential chain and endpoint resolution (~30-40 ms of CPU). A container has one environment and botocore
    clients are thread-safe, so sharing is safe there; anywhere else (tests, the CLI, a server whose environment
    may change) every call makes its own client, as `aws_client` does. The first caller's `kwargs` win."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return aws_client(service, region=region, **kwargs)
    key = (service, region)
    with _share_lock:
        if key not in _shared:
            _shared[key] = aws_client(service, region=region, **kwargs)
        return _shared[key]


class LazyClient:
    """`aws_client(service, ...)` made on its first use, then used as is: a cold process that never calls the
    service pays neither its model loading nor its session (~15-20 ms of CPU each, e.g. Step Functions in an API
    container serving reads)."""

    def __init__(self, service: str, *, region: str | None = None, **kwargs: Any) -> None:
        self._args = (service, region, kwargs)
        self._client: Any = None
        self._made = threading.Lock()

    @property
    def made(self) -> bool:
        return self._client is not None

    def _get(self) -> Any:
        if self._client is None:
            with self._made:
                if self._client is None:
                    service, region, kwargs = self._args
                    self._client = aws_client(service, region=region, **kwargs)
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

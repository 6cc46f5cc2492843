"""DexaClient's operations for moving sessions between homes (a mixin, as config_api.py): export tokens, export
and import. Tagged like every other operation, so the OpenAPI drift test covers them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dexa.api.schemas.sessions import SessionPublic
from dexa.api.schemas.transfer import ExportTokenPublic, SessionBundle

from .request import Operations, operation


class TransferOperations(Operations):
    @operation("POST", "/sessions/{session_id}/export-token")
    async def create_export_token(self, session_id: str, *, ttl_s: int = 900) -> ExportTokenPublic:
        return await self._call(
            "POST", f"/sessions/{session_id}/export-token", ExportTokenPublic, json_body={"ttl_s": ttl_s}
        )

    @operation("GET", "/sessions/{session_id}/export")
    async def export_session_bundle(self, session_id: str) -> SessionBundle:
        """With an export token or an API key as this client's token."""
        return await self._call("GET", f"/sessions/{session_id}/export", SessionBundle)

    @operation("POST", "/sessions/import")
    async def import_session_bundle(self, bundle: SessionBundle | Mapping[str, Any]) -> SessionPublic:
        body = bundle.model_dump() if isinstance(bundle, SessionBundle) else dict(bundle)
        return await self._call("POST", "/sessions/import", SessionPublic, json_body=body)

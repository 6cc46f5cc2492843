"""The integration registry: which sources an org connected, their secrets (in the vault), status and health.

Records live in kv namespace "integrations" scoped by org, so another org's id is simply not found.
Secrets never enter a record: API keys, connection strings and custom headers are vault entries.
An OAuth integration holds the org's shared grant and users' own grants; its `grants` policy picks one per user
(grants.py).
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from dexa.core.errors import ConfigError, ConflictError, NotFoundError, PermissionDeniedError, ToolError
from dexa.core.ports import KeyValueStore

from .catalogue import CATALOGUE, ProviderInfo
from .database.connect import check_connection_string
from .grants import DEFAULT_POLICY, ORG, check_policy, choose, connect_hint, user_owner
from .oauth import PENDING_NAMESPACE, OAuthService, grant_key, public
from .oauth_discovery import AuthServer
from .remote import RemoteMcpAuth
from .remote.storage import FLOW as REMOTE_FLOW
from .vault import SecretVault

NAMESPACE = "integrations"
SETTINGS_NAMESPACE = "integration_settings"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Returns None when healthy, else a problem description (e.g. an MCP connect + tools/list probe).
Probe = Callable[[Mapping[str, Any]], Awaitable[str | None]]
Records = list[dict[str, Any]]


def secret_key(org_id: str, integration_id: str, what: str) -> str:
    return f"integration/{org_id}/{integration_id}/{what}"


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "secret_keys"}


class IntegrationRegistry:
    def __init__(
        self,
        kv: KeyValueStore,
        vault: SecretVault,
        oauth: OAuthService | None = None,
        *,
        probe: Probe | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.vault = vault
        self.oauth = oauth
        # Vendor-hosted MCP servers: the MCP authorization flow, run by the SDK's OAuth client.
        self.remote = (
            RemoteMcpAuth(kv, vault, redirect_uri=oauth.redirect_uri, http_options=oauth.http_options)
            if oauth is not None
            else None
        )
        self.probe = probe
        self.clock = clock

    # ------------------------------------------------------------ org settings

    async def set_allowlist(self, org_id: str, patterns: list[str]) -> None:
        """URL globs custom MCP servers must match (e.g. "https://mcp.corp.example/*")."""
        await self.kv.kv_put(SETTINGS_NAMESPACE, "allowlist", {"patterns": list(patterns)}, org_id=org_id)

    async def allowlist(self, org_id: str) -> list[str]:
        doc = await self.kv.kv_get(SETTINGS_NAMESPACE, "allowlist", org_id=org_id) or {}
        return [str(p) for p in doc.get("patterns", [])]

    # ------------------------------------------------------------ CRUD

    async def list(self, org_id: str) -> Records:
        docs = await self.kv.kv_list(NAMESPACE, prefix="int_", org_id=org_id)
        return [_public(d) for d in sorted(docs, key=lambda d: (d.get("created_at", 0), d["id"]))]

    async def record(self, org_id: str, integration_id: str) -> dict[str, Any]:
        """Raises NotFoundError for unknown ids and other orgs' ids."""
        doc = await self.kv.kv_get(NAMESPACE, integration_id, org_id=org_id)
        if doc is None:
            raise NotFoundError(f"no integration {integration_id}")
        return doc

    async def add(self, org_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Connect a source. Raises ConfigError (bad spec), PermissionDeniedError (URL not allowlisted),
        ConflictError (name taken)."""
        info = CATALOGUE.get(str(spec.get("provider", "")))
        if info is None:
            raise ConfigError(f"unknown provider {spec.get('provider')!r}; known: {', '.join(sorted(CATALOGUE))}")
        mode = str(spec.get("mode") or ("managed" if info.managed else "remote" if info.remote_mcp else "config"))
        if mode == "managed" and not info.managed:
            raise ConfigError(f"{info.id} has no Dexa-managed server; use mode=remote")
        if mode == "remote" and not (info.remote_mcp or info.id == "custom_mcp"):
            raise ConfigError(f"{info.id} has no hosted MCP server preset")
        if info.id == "custom_mcp":
            mode = "remote"
        name = str(spec.get("name") or (info.managed if mode == "managed" and info.managed != "bundle" else info.id))
        if not _NAME.match(name):
            raise ConfigError(f"integration name {name!r} must be 1-40 characters of [A-Za-z0-9_-]")
        taken = {r["name"] for r in await self.list(org_id)}
        wanted = {name, *info.kinds} if info.managed == "bundle" else {name}
        if taken & wanted:
            raise ConflictError(f"an integration named {sorted(taken & wanted)[0]!r} already exists in this org")
        config = dict(spec.get("config") or {})
        missing = [k for k in info.config_keys if not config.get(k)]
        if missing:
            raise ConfigError(f"{info.id} needs config {', '.join(missing)}")
        if info.config_check is not None:
            info.config_check(config)
        url = await self._url(org_id, info, spec, mode)
        if info.managed == "database" and spec.get("connection_string"):
            check_connection_string(info.id, str(spec["connection_string"]))
        integration_id = "int_" + secrets.token_hex(8)
        secret_keys = await self._store_secrets(org_id, integration_id, spec)
        now = self.clock()
        record = {
            "id": integration_id,
            "org_id": org_id,
            "provider": info.id,
            "kind": info.kind,
            "name": name,
            "mode": mode,
            "url": url,
            "transport": str(spec.get("transport") or "http"),
            "config": config,
            "trusted_reads": bool(spec.get("trusted_reads", False)),
            "grants": check_policy(str(spec.get("grants") or DEFAULT_POLICY)),
            "secret_keys": secret_keys,
            "status": self._initial_status(info, secret_keys),
            "created_at": now,
            "updated_at": now,
            "last_error": "",
        }
        if record["transport"] not in ("http", "sse"):
            raise ConfigError("transport must be http or sse")
        if not await self.kv.kv_put_if_absent(NAMESPACE, integration_id, record, org_id=org_id):
            raise ConflictError(f"integration id collision {integration_id}; retry")
        return _public(record)

    async def _url(self, org_id: str, info: ProviderInfo, spec: Mapping[str, Any], mode: str) -> str:
        if info.id != "custom_mcp":
            return (info.remote_mcp or "") if mode == "remote" else ""
        url = str(spec.get("url") or "")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigError("a custom MCP server needs an http(s) url")
        patterns = await self.allowlist(org_id)
        if not any(fnmatch.fnmatchcase(url, p) for p in patterns):
            raise PermissionDeniedError(f"{url} is not on this organisation's MCP allowlist; an admin must add it")
        return url

    async def _store_secrets(self, org_id: str, integration_id: str, spec: Mapping[str, Any]) -> list[str]:
        stored: list[str] = []
        for what in ("api_key", "connection_string"):
            value = spec.get(what)
            if value:
                await self.vault.put(secret_key(org_id, integration_id, what), str(value))
                stored.append(what)
        headers = spec.get("headers")
        if headers:
            await self.vault.put(secret_key(org_id, integration_id, "headers"), json.dumps(dict(headers)))
            stored.append("headers")
        return stored

    @staticmethod
    def _initial_status(info: ProviderInfo, secret_keys: list[str]) -> str:
        if info.auth == "oauth":
            return "needs_auth"
        if info.auth in ("api_key", "connection_string") and info.auth not in secret_keys:
            return "needs_auth"
        return "connected"

    async def remove(self, org_id: str, integration_id: str) -> None:
        record = await self.record(org_id, integration_id)
        for what in record.get("secret_keys", []):
            await self.vault.delete(secret_key(org_id, integration_id, what))
        # Every grant goes with it: the org's and each user's own.
        for owner in [ORG, *await self._user_owners(org_id, integration_id)]:
            await self._forget_grant(org_id, record, owner)
        await self.kv.kv_delete(NAMESPACE, integration_id, org_id=org_id)

    async def secret(self, org_id: str, integration_id: str, what: str) -> str | None:
        """Control-plane only: an API key, connection string or header JSON."""
        await self.record(org_id, integration_id)
        return await self.vault.get(secret_key(org_id, integration_id, what))

    async def _update(self, org_id: str, record: dict[str, Any], **changes: Any) -> dict[str, Any]:
        record = {**record, **changes, "updated_at": self.clock()}
        await self.kv.kv_put(NAMESPACE, record["id"], record, org_id=org_id)
        return record

    # ------------------------------------------------------------ OAuth connection

    async def auth_server(self, record: Mapping[str, Any]) -> tuple[AuthServer, tuple[str, ...], str | None]:
        """The static OAuth endpoints of a managed provider (remote MCP servers are discovered instead)."""
        info = CATALOGUE[record["provider"]]
        if info.oauth is None:
            raise ConfigError(f"{info.id} does not use OAuth")
        return info.oauth, info.scopes, None

    async def begin_connect(self, org_id: str, integration_id: str, *, user_id: str, owner: str = ORG) -> str:
        """The authorize URL for an OAuth integration; the grant is stored for `owner`: the org ("org", an admin's
        call, checked by the caller) or `user:<user_id>` (the caller's own; never another user's)."""
        if self.oauth is None or self.remote is None:
            raise ConfigError("OAuth is not configured (no redirect URI / client registrations)")
        record = await self.record(org_id, integration_id)
        if owner not in (ORG, user_owner(user_id)):
            raise PermissionDeniedError(f"{user_id} cannot connect a grant for {owner}; only the org's or their own")
        if owner != ORG and (record.get("auth") or CATALOGUE[record["provider"]].auth) != "oauth":
            raise ConfigError(f"{record['name']} uses the org's credentials; only OAuth integrations have own grants")
        if owner == ORG and record.get("grants") == "user_only":
            raise ConfigError(f"{record['name']} uses only users' own grants (policy user_only); connect with --mine")
        if record["mode"] == "remote" and record.get("url"):
            info = CATALOGUE[record["provider"]]
            return await self.remote.begin(
                org_id=org_id,
                user_id=user_id,
                integration_id=integration_id,
                url=record["url"],
                issuer_hint=info.oauth.issuer if info.oauth else None,
                owner=owner,
            )
        server, scopes, resource = await self.auth_server(record)
        return await self.oauth.begin(
            org_id=org_id,
            user_id=user_id,
            integration_id=integration_id,
            server=server,
            scopes=scopes,
            resource=resource,
            owner=owner,
        )

    async def complete_connect(self, *, state: str, code: str, iss: str | None = None) -> dict[str, Any]:
        """Returns the integration with `grant_owner` (whose grant was stored) and `connected_by`."""
        if self.oauth is None or self.remote is None:
            raise ConfigError("OAuth is not configured")
        pending = await self.kv.kv_get(PENDING_NAMESPACE, state) or {}
        if pending.get("flow") == REMOTE_FLOW:
            done = await self.remote.complete(state=state, code=code, iss=iss)
        else:
            done = await self.oauth.complete(state=state, code=code, iss=iss)
        record = await self.record(done["org_id"], done["integration_id"])
        owner = str(done.get("owner") or ORG)
        # A custom server that answered with an OAuth challenge becomes an OAuth integration from now on. A user's
        # own grant leaves the integration's (org-wide) status alone.
        changes: dict[str, Any] = {"auth": "oauth"}
        if owner == ORG or record.get("status") == "needs_auth":
            changes.update(status="connected", last_error="")
        updated = await self._update(done["org_id"], record, **changes)
        return {**_public(updated), "grant_owner": owner, "connected_by": pending.get("user_id", "")}

    # ------------------------------------------------------------ grants (the org's and users' own)

    async def set_grant_policy(self, org_id: str, integration_id: str, policy: str) -> dict[str, Any]:
        """`user_first`, `org_only` or `user_only` (grants.py). Raises ConfigError for another value."""
        record = await self.record(org_id, integration_id)
        return _public(await self._update(org_id, record, grants=check_policy(policy)))

    async def _user_owners(self, org_id: str, integration_id: str) -> list[str]:
        prefix = grant_key(org_id, integration_id) + "/users/"
        return [user_owner(k[len(prefix) :]) for k in await self.vault.keys(prefix)]

    async def has_grant(self, org_id: str, integration_id: str, owner: str) -> bool:
        return await self.vault.get(grant_key(org_id, integration_id, owner)) is not None

    async def grant_owner(self, org_id: str, record: Mapping[str, Any], user_id: str | None) -> str | None:
        """Whose grant a session acting for `user_id` uses with this integration, by its policy; None when it has
        none. Integrations without OAuth use the org's credentials ("org")."""
        if (record.get("auth") or CATALOGUE[record["provider"]].auth) != "oauth":
            return ORG

        async def has(owner: str) -> bool:
            return await self.has_grant(org_id, str(record["id"]), owner)

        return await choose(str(record.get("grants") or DEFAULT_POLICY), user_id=user_id, has_grant=has)

    async def grants(self, org_id: str, integration_id: str, *, user_id: str) -> Records:
        """The grants `user_id` may see: the org's and their own (never another user's), as public facts."""
        await self.record(org_id, integration_id)
        out: Records = []
        for owner in (ORG, user_owner(user_id)):
            raw = await self.vault.get(grant_key(org_id, integration_id, owner))
            if raw:
                out.append({**public(json.loads(raw)), "owner": owner})
        return out

    async def forget_grant(self, org_id: str, integration_id: str, owner: str) -> None:
        """Disconnect one grant (revoked at the vendor where it can be). Raises NotFoundError when there is none."""
        record = await self.record(org_id, integration_id)
        if not await self.has_grant(org_id, integration_id, owner):
            raise NotFoundError(f"integration {integration_id} has no grant of {owner}")
        await self._forget_grant(org_id, record, owner)

    async def _forget_grant(self, org_id: str, record: Mapping[str, Any], owner: str) -> None:
        if self.remote is not None and record["mode"] == "remote":
            await self.remote.revoke(org_id, record["id"], owner)  # at the vendor too, not only forgotten here
        if self.oauth is not None:
            await self.oauth.forget(org_id, record["id"], owner)

    # ------------------------------------------------------------ status and health

    async def status(
        self, org_id: str, integration_id: str, *, probe: bool = False, user_id: str | None = None
    ) -> dict[str, Any]:
        """Status, token facts (never values) and health; `probe` checks health now (refreshing a token).

        For a caller (`user_id`): `grant_owner` is whose grant their sessions would use, `grants` the grants they
        may see (the org's and their own)."""
        record = await self.record(org_id, integration_id)
        info = CATALOGUE[record["provider"]]
        auth = record.get("auth") or info.auth
        owner = await self.grant_owner(org_id, record, user_id)
        if probe:
            record = await self._update(org_id, record, health=await self._probe(org_id, record, info, owner or ORG))
        out = {
            **_public(record),
            "auth": auth,
            "connect": info.connect_hint(),
            "health": record.get("health") or {"ok": None, "checked_at": None, "detail": "not checked"},
        }
        out["grants_policy"] = record.get("grants") or DEFAULT_POLICY
        out["grant_owner"] = owner
        if auth == "oauth" and self.oauth is not None:
            # The token facts of the grant this caller's sessions use (the org's when they would use none).
            grant = await self.oauth.load(org_id, integration_id, owner or ORG)
            out["token"] = public(grant)
            if grant and grant.get("status") == "needs_reauth":
                out["status"] = "needs_reauth"
            elif owner is not None and out["status"] == "needs_auth":
                out["status"] = "connected"  # connected for this caller through their own grant
            if user_id:
                out["grants"] = await self.grants(org_id, integration_id, user_id=user_id)
        return out

    async def _probe(
        self, org_id: str, record: Mapping[str, Any], info: ProviderInfo, owner: str = ORG
    ) -> dict[str, Any]:
        detail: str | None = None
        try:
            if (record.get("auth") or info.auth) == "oauth" and record["mode"] == "remote" and self.remote:
                await self.remote.check(org_id, record["id"], record["url"], name=record["name"], owner=owner)
            elif (record.get("auth") or info.auth) == "oauth" and self.oauth is not None:
                await self.oauth.access_token(org_id, record["id"], owner)
            elif info.auth in ("api_key", "connection_string") and info.auth not in record.get("secret_keys", []):
                detail = f"no {info.auth.replace('_', ' ')} stored"
            if detail is None and self.probe is not None:
                detail = await self.probe(record)
        except (PermissionDeniedError, ConfigError, ToolError) as exc:
            detail = str(exc)
        return {"ok": detail is None, "checked_at": self.clock(), "detail": detail or "ok"}

    async def unconnected(self, org_id: str, user_id: str | None = None) -> Records:
        """Catalogue entries this org has not connected, with how to connect them (for ListSources); for a user,
        also the org's OAuth integrations that have no grant for them (e.g. user_only ones they never connected)."""
        records = await self.list(org_id)
        have = {r["provider"] for r in records}
        out = [
            {"name": p.id, "kind": p.kind, "description": p.description, "connect": p.connect_hint()}
            for p in CATALOGUE.values()
            if p.id not in have and p.id not in ("demo", "custom_mcp")
        ]
        if user_id is None:
            return out
        for record in records:
            if (record.get("auth") or CATALOGUE[record["provider"]].auth) != "oauth":
                continue
            if await self.grant_owner(org_id, record, user_id) is not None:
                continue
            owner = ORG if record.get("grants") == "org_only" else user_owner(user_id)
            out.append(
                {
                    "name": record["name"],
                    "kind": record["kind"],
                    "description": CATALOGUE[record["provider"]].description,
                    "connect": f"no grant for you yet: `{connect_hint(record['id'], owner)}`",
                }
            )
        return out

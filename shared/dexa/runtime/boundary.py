"""A session's side of the trust boundary: what its repository may configure, and its way out to the network.

Trust: the user's record on their own machine, org policy anywhere else, and held back when the session's control
files change under it. Network: the policy from settings, enforced by a per-session egress proxy on a Unix socket
that the sandbox reaches through its own network namespace.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dexa.config.trust import TrustDecision, control_digest, mark_changed, session_trust
from dexa.core.events import EventType
from dexa.core.ports import Store
from dexa.core.session import Session
from dexa.egress.policy import NetworkPolicy

EmitFn = Callable[[str, str, Mapping[str, Any]], Awaitable[Any]]


# Settings `env` reaches Bash as in Claude Code, except credentials: no credential enters a workspace, and the
# model can read anything a command can.
_CREDENTIAL_ENV = re.compile(
    r"^(ANTHROPIC_|CLAUDE_CODE_OAUTH|AWS_|DEXA_|MODAL_|GITHUB_TOKEN$|GH_TOKEN$)|(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)",
    re.IGNORECASE,
)


def command_env(settings_env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The settings `env` for workspace commands, and the names held back as credentials."""
    kept = {k: v for k, v in settings_env.items() if not _CREDENTIAL_ENV.search(k)}
    return kept, sorted(set(settings_env) - set(kept))


def header_env_allowlist(org_policy: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Variables the org lets repository configuration use (`dexa.httpHookEnvVars`); none by default."""
    dexa = (org_policy or {}).get("dexa")
    names = dexa.get("httpHookEnvVars") if isinstance(dexa, Mapping) else None
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


async def pinned_trust(
    store: Store,
    session: Session,
    *,
    local: bool,
    home: str,
    org_policy: Mapping[str, Any] | None,
    env: Mapping[str, str],
) -> tuple[TrustDecision, str | None]:
    """The session's trust and a warning, held back when its control files changed since the session first saw
    them: a change made during a session (an approved edit of `.claude/settings.json`, a checkout) takes effect
    only after the user trusts the workspace again. Each rebuilt environment (a resume, a cloud step) checks."""
    trust = session_trust(session.cwd, home=home, local=local, org_policy=org_policy, env=env)
    if not (trust.all_keys or trust.keys):
        return trust, None
    digest = control_digest([session.cwd])
    pin = await store.kv_get("trust_pins", session.id, org_id=session.org_id)
    if pin is None:
        await store.kv_put("trust_pins", session.id, {"digest": digest}, org_id=session.org_id)
        return trust, None
    if pin.get("digest") == digest:
        return trust, None
    detail = f"changed during session {session.id}"
    if local:
        mark_changed(session.cwd, home, detail, env=env)
    return TrustDecision.untrusted(f"the workspace's settings {detail}; trust it again (`dexa trust`)"), (
        f"The workspace's settings files {detail}. Their new content takes effect after `dexa trust`."
    )


def project_expansion_env(
    trust: TrustDecision, *, local: bool, env: Mapping[str, str], org_policy: Mapping[str, Any] | None
) -> dict[str, str]:
    """What a repository's `.mcp.json` may expand `${VAR}` from: the user's environment on a trusted machine of
    their own (Claude Code's behaviour), else only the variables the org allowlists."""
    if trust.all_keys and local:
        return dict(env)
    allowed = set(header_env_allowlist(org_policy))
    return {k: v for k, v in env.items() if k in allowed}


def session_network(settings: Any, *, requested: bool) -> NetworkPolicy:
    """The session's network policy: its settings' (a project only narrows), or with `--network` the widest
    level the org allows."""
    if requested:
        return settings.dexa.network_cap.narrow(NetworkPolicy.from_level("full"))
    return settings.dexa.network


async def start_egress(session_id: str, network: NetworkPolicy, emit: EmitFn | None) -> dict[str, Any]:
    """The session's egress proxy, as env services (`egress_proxy`, `egress_socket`); none without network.

    Every request is checked against the policy, logged as a `network.request` event and rate-limited; loopback,
    private and metadata addresses (the control plane's ports among them) are refused at every level.
    """
    if not network.enabled:
        return {}
    from dexa.egress.proxy import EgressProxy, EgressRecord

    async def log(record: EgressRecord) -> None:
        if emit is not None:
            await emit(session_id, EventType.NETWORK, dataclasses.asdict(record))

    proxy = EgressProxy(network, log=log)
    # Unix socket paths are limited to 108 bytes, so the socket lives in a short private directory.
    path = os.path.join(tempfile.mkdtemp(prefix="dexa-egress-"), "proxy.sock")
    await proxy.start(path)
    return {"egress_proxy": proxy, "egress_socket": path}


async def stop_egress(services: Mapping[str, Any]) -> None:
    proxy = services.get("egress_proxy")
    if proxy is not None:
        await proxy.aclose()
        shutil.rmtree(os.path.dirname(services["egress_socket"]), ignore_errors=True)

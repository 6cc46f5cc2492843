"""Saved task templates: a prompt with `{{variables}}` that a signed webhook fills from its JSON payload.

    task_templates    org     template id -> {id, name, prompt, run_as, secret, created_by, created_at}
    task_template_ids global  template id -> {org_id}

`POST /webhooks/tasks/{id}` with `X-Dexa-Signature-256: sha256=<hex HMAC-SHA256 of the body with the template's
secret>` starts a session running the rendered prompt as the template's `run_as` user. `{{ a.b.0 }}` reads a
path in the payload (keys and list indexes); a variable the payload lacks is refused naming it, so a half-filled
prompt never runs. An optional `X-Dexa-Delivery` header makes redeliveries start nothing new.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from dexa.core.errors import ConfigError, NotFoundError, PermissionDeniedError
from dexa.core.ports import KeyValueStore

from .inbound import InboundTask, Starter, claim, release, requester

TEMPLATES = "task_templates"
TEMPLATE_IDS = "task_template_ids"
SIGNATURE_HEADER = "x-dexa-signature-256"
DELIVERY_HEADER = "x-dexa-delivery"
_VAR = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
_VALUE_LIMIT = 8000


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskTemplate:
    id: str
    org_id: str
    name: str
    prompt: str
    run_as: str
    secret: str
    created_by: str = ""
    created_at: float = 0.0

    @property
    def variables(self) -> list[str]:
        return sorted(set(_VAR.findall(self.prompt)))

    def public(self) -> dict[str, Any]:
        """Everything but the secret."""
        return {
            "id": self.id,
            "name": self.name,
            "prompt": self.prompt,
            "run_as": self.run_as,
            "variables": self.variables,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def _lookup(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]  # pyright: ignore[reportUnknownVariableType]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):  # pyright: ignore[reportUnknownArgumentType]
            value = value[int(part)]  # pyright: ignore[reportUnknownVariableType]
        else:
            raise KeyError(path)
    return value  # pyright: ignore[reportUnknownVariableType]


def render(prompt: str, payload: Any) -> str:
    """The prompt with each `{{path}}` replaced by the payload's value (objects as JSON).

    Raises:
        ConfigError: variables the payload does not have, all named.
    """
    import json

    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        try:
            value = _lookup(payload, match.group(1))
        except KeyError:
            missing.append(match.group(1))
            return ""
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return text[:_VALUE_LIMIT]

    out = _VAR.sub(one, prompt)
    if missing:
        raise ConfigError(f"the payload lacks the template's variables: {', '.join(sorted(set(missing)))}")
    return out


async def save_template(
    kv: KeyValueStore, org_id: str, *, name: str, prompt: str, run_as: str, by: str, template_id: str = ""
) -> TaskTemplate:
    """Create (a new id and secret) or replace (same id and secret) a template.

    Raises:
        ConfigError: an empty prompt or name.
        PermissionDeniedError: `run_as` may not start sessions.
        NotFoundError: `run_as` is not a user of the org, or `template_id` names no template of the org.
    """
    if not prompt.strip() or not name.strip():
        raise ConfigError("a task template needs a name and a prompt")
    await requester(kv, org_id, run_as)
    old = await get_template(kv, org_id, template_id) if template_id else None
    template = TaskTemplate(
        id=old.id if old else "tpl_" + secrets.token_hex(8),
        org_id=org_id,
        name=name.strip(),
        prompt=prompt,
        run_as=run_as,
        secret=old.secret if old else secrets.token_urlsafe(32),
        created_by=old.created_by if old else by,
        created_at=old.created_at if old else time.time(),
    )
    await kv.kv_put(TEMPLATES, template.id, asdict(template), org_id=org_id)
    await kv.kv_put(TEMPLATE_IDS, template.id, {"org_id": org_id})
    return template


async def get_template(kv: KeyValueStore, org_id: str, template_id: str) -> TaskTemplate:
    doc = await kv.kv_get(TEMPLATES, template_id, org_id=org_id)
    if doc is None:
        raise NotFoundError(f"no task template {template_id}")
    return TaskTemplate(**{f.name: doc[f.name] for f in fields(TaskTemplate) if f.name in doc})


async def list_templates(kv: KeyValueStore, org_id: str) -> list[TaskTemplate]:
    docs = await kv.kv_list(TEMPLATES, org_id=org_id)
    found = [TaskTemplate(**{f.name: d[f.name] for f in fields(TaskTemplate) if f.name in d}) for d in docs]
    return sorted(found, key=lambda t: t.created_at)


async def delete_template(kv: KeyValueStore, org_id: str, template_id: str) -> None:
    await get_template(kv, org_id, template_id)
    await kv.kv_delete(TEMPLATES, template_id, org_id=org_id)
    await kv.kv_delete(TEMPLATE_IDS, template_id)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def task_for_delivery(
    kv: KeyValueStore, template_id: str, headers: Mapping[str, str], body: bytes
) -> tuple[TaskTemplate, InboundTask]:
    """Verify a webhook delivery and build the session it asks for.

    Raises:
        NotFoundError: no such template (also for a bad signature on an unknown id: ids are not secret-bearing).
        PermissionDeniedError: a missing or wrong signature.
        ConfigError: a body that is not a JSON object, or variables it lacks.
    """
    import json

    owner = await kv.kv_get(TEMPLATE_IDS, template_id)
    if owner is None:
        raise NotFoundError(f"no task template {template_id}")
    template = await get_template(kv, str(owner["org_id"]), template_id)
    headers = {k.lower(): v for k, v in headers.items()}
    if not hmac.compare_digest(sign(template.secret, body), headers.get(SIGNATURE_HEADER, "")):
        raise PermissionDeniedError(f"missing or wrong {SIGNATURE_HEADER}", code="bad_signature")
    try:
        payload = json.loads(body or b"{}")
    except ValueError as exc:
        raise ConfigError("the webhook body is not JSON") from exc
    if not isinstance(payload, dict):
        raise ConfigError("the webhook body must be a JSON object")
    task = InboundTask(
        org_id=template.org_id,
        user_id=template.run_as,
        prompt=render(template.prompt, payload),
        requested_by=f"webhook:{template.id} (as {template.run_as})",
        source="webhook",
        title=f"{template.name}"[:120],
    )
    return template, task


async def handle_delivery(
    kv: KeyValueStore, start: Starter, template_id: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, Any]]:
    """One webhook delivery -> (HTTP status, body): 202 started, 200 duplicate, 400 a bad body or missing
    variables, 401 a bad signature, 403 a `run_as` who may no longer start sessions, 404 no such template."""
    try:
        template, task = await task_for_delivery(kv, template_id, headers, body)
    except NotFoundError as exc:
        return 404, {"error": exc.message}
    except PermissionDeniedError as exc:
        return 401, {"error": exc.message}
    except ConfigError as exc:
        return 400, {"error": exc.message}
    delivery = {k.lower(): v for k, v in headers.items()}.get(DELIVERY_HEADER, "")
    key = f"{template.id}:{delivery}"
    if delivery and not await claim(kv, template.org_id, "webhook", key):
        return 200, {"status": "duplicate"}
    try:
        session_id = await start(task)
    except BaseException as exc:
        if delivery:  # a redelivery may try again
            await release(kv, template.org_id, "webhook", key)
        if isinstance(exc, PermissionDeniedError | NotFoundError):  # run_as lost its role or left the org
            return 403, {"status": "rejected", "reason": exc.message}
        raise
    return 202, {"status": "started", "session_id": session_id}

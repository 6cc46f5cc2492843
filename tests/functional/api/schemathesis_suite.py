"""Schemathesis over every operation: no server errors, every response matches the OpenAPI document.

Short form here (DEXA_SCHEMATHESIS_EXAMPLES, default 4 per operation, plus schemathesis' coverage cases);
benchmarks/schemathesis_long.py runs this same file with a large count and reports the totals.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from api_harness import MemoryRewinder, make_config_api, rule_check
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("DEXA_SCHEMATHESIS_EXAMPLES", "4"))
REPORT = os.environ.get("DEXA_SCHEMATHESIS_REPORT")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]

_TMPDIR = tempfile.TemporaryDirectory(prefix="dexa-schemathesis-")  # removed at interpreter exit
_tmp = Path(_TMPDIR.name)
API = make_config_api(_tmp, rewinder=MemoryRewinder(), permission_check=rule_check)
HEADERS = API.h("a_admin")
REAL: dict[str, list[str]] = {}
STATUS: Counter[str] = Counter()


async def _seed() -> None:
    rt = API.runtime
    sessions = [await rt.create_session(cwd=str(_tmp / "ws"), org_id="org_a", user_id="usr_a_admin") for _ in range(3)]
    REAL["session_id"] = [s.id for s in sessions]
    ctx = API.app.state.dexa
    out = [
        await ctx.outputs.stage(
            org_id="org_a",
            session_id=sessions[0].id,
            kind="email",
            tool="send_email",
            arguments={"to": "x@example.com"},
        )
        for _ in range(3)
    ]
    REAL["output_id"] = [o.id for o in out]
    integ = await ctx.integrations.create("org_a", kind="calendar", name="cal", config={}, by="usr_a_admin")
    REAL["integration_id"] = [integ.id]
    REAL["key_id"] = [k.id for k in await API.auth.list_keys("org_a") if k.user_id != "usr_a_admin"]
    await rt.store.kv_put(
        "schedules",
        "sch_seeded",
        {
            "id": "sch_seeded",
            "cron": "* * * * *",
            "prompt": "p",
            "cwd": None,
            "model": None,
            "enabled": True,
            "created_at": 1.0,
            "created_by": "usr_a_admin",
        },
        org_id="org_a",
    )
    REAL["schedule_id"] = ["sch_seeded"]
    # A share link (its id and token) and an MCP server in the local scope, so those routes run past the 404.
    from dexa.api.shares import ShareLinks

    share, token = await ShareLinks(rt.store).create("org_a", sessions[0].id, by="usr_a_admin", ttl_s=86_400)
    REAL["share_id"], REAL["token"] = [share.id], [token]
    home = ctx.paths.home("org_a")
    project = {"projects": {sessions[0].cwd: {"mcpServers": {"seeded": {"type": "stdio", "command": "true"}}}}}
    (home / ".claude.json").write_text(json.dumps(project))
    REAL["name"] = ["seeded"]


asyncio.run(_seed())
schema = schemathesis.openapi.from_asgi("/openapi.json", API.app)
schema.config.generation.update(max_examples=EXAMPLES)


@schema.hook("flatmap_path_parameters")
def _real_ids(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Often aim at a resource that exists, so handlers run past the 404."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: st.sampled_from([value, *REAL[name]]) if REAL.get(name) else st.just(value)
            for name, value in path_parameters.items()
        }
    )


@schema.parametrize()
@hypothesis.settings(
    deadline=None, suppress_health_check=cast("list[HealthCheck]", list(HealthCheck)), derandomize=True
)
def test_every_operation_conforms_to_the_openapi_document(case: Any) -> None:
    response = case.call_and_validate(headers=HEADERS, checks=CHECKS)
    STATUS[f"{case.operation.label} {response.status_code}"] += 1


def test_report_counts() -> None:
    """Runs after the parametrized cases (file order); writes the totals for the long-form benchmark."""
    total = sum(STATUS.values())
    if REPORT:
        Path(REPORT).write_text(json.dumps({"total": total, "by_status": dict(STATUS)}))
    if total == 0:
        pytest.skip("the parametrized cases were not selected in this run")
    assert total >= 100, f"only {total} generated requests"

"""Who decides stage / auto-apply / direct / deny (mcp.md §5.3) and at which level."""

from __future__ import annotations

from pathlib import Path

import pytest
from integrations_kit import ORG, demo_org

from dexa.adapters.mcp.gate import McpCall, ToolHints
from dexa.core.errors import ConfigError
from dexa.integrations.outputs.policy import OutputPolicy, decide

pytestmark = pytest.mark.anyio


def _call(
    tool: str,
    *,
    kind: str = "",
    scope: str = "managed",
    trusted: bool = True,
    args=None,
    hints: ToolHints | None = None,
    trusted_reads: bool = False,
    server: str = "srv",
) -> McpCall:
    return McpCall(
        server=server,
        tool=tool,
        exposed_name=f"mcp__{server}__{tool}",
        arguments=args or {},
        hints=hints or ToolHints(),
        scope=scope,
        trusted=trusted,
        kind=kind,
        trusted_reads=trusted_reads,
    )


READ = ToolHints(read_only=True, destructive=False, open_world=False)
PRIVATE = ToolHints(destructive=False, open_world=False)


def test_business_outputs_are_staged_by_default_and_reads_run() -> None:
    org = OutputPolicy()
    assert decide(_call("send_draft", kind="email"), org=org).decision == "stage"
    assert decide(_call("create_event", kind="calendar"), org=org).decision == "stage"
    assert decide(_call("update_deal", kind="crm"), org=org).kind == "crm_update"
    assert decide(_call("list_events", kind="calendar", hints=READ), org=org).decision == "direct"
    assert decide(_call("create_draft", kind="email", hints=PRIVATE), org=org).decision == "direct"


def test_org_levels_and_the_per_tool_override_that_always_wins() -> None:
    org = OutputPolicy.from_dict(
        {
            "output_types": {"crm_update": "auto"},
            "integrations": {"chat": "deny"},
            "tools": {"crm/update_deal": "stage"},
        }
    )
    assert decide(_call("create_task", kind="crm", server="crm"), org=org).decision == "auto"
    assert decide(_call("update_deal", kind="crm", server="crm"), org=org).decision == "stage"
    assert decide(_call("send_message", kind="chat", server="chat"), org=org).decision == "deny"


def test_a_session_may_tighten_but_not_loosen_unless_the_org_allows() -> None:
    org = OutputPolicy.from_dict({"output_types": {"crm_update": "auto"}})
    tighter = OutputPolicy.from_dict({"default": "stage"})
    looser = OutputPolicy.from_dict({"output_types": {"email": "auto"}})
    assert decide(_call("create_task", kind="crm"), org=org, session=tighter).decision == "stage"
    assert decide(_call("send_draft", kind="email"), org=org, session=looser).decision == "stage"
    permissive = OutputPolicy.from_dict({"allow_session_auto": True})
    assert decide(_call("send_draft", kind="email"), org=permissive, session=looser).decision == "auto"


def test_direct_is_never_allowed_for_an_output_with_external_effects() -> None:
    org = OutputPolicy.from_dict({"output_types": {"email": "direct"}})
    assert decide(_call("send_draft", kind="email"), org=org).decision == "auto"


def test_org_added_hosted_servers_run_reads_and_stage_writes_and_the_org_can_stage_reads_too() -> None:
    custom = {"scope": "integration", "trusted": False, "server": "linear"}
    assert decide(_call("list_issues", hints=READ, **custom), org=OutputPolicy()).decision == "direct"
    staged = decide(_call("create_issue", hints=PRIVATE, **custom), org=OutputPolicy())
    assert (staged.decision, staged.kind) == ("stage", "mcp_call")
    strict = OutputPolicy.from_dict({"reads": {"linear": "stage"}})
    assert decide(_call("list_issues", hints=READ, **custom), org=strict).decision == "stage"
    per_tool = OutputPolicy.from_dict({"tools": {"linear/create_issue": "direct"}})
    assert decide(_call("create_issue", hints=PRIVATE, **custom), org=per_tool).decision == "direct"


def test_developer_configured_servers_stage_writes_too_and_forced_interaction_stages() -> None:
    org = OutputPolicy()
    commit = decide(_call("git_commit", scope="project", trusted=False), org=org)
    assert (commit.decision, commit.rule) == ("stage", "annotation.write")
    forced = ToolHints(requires_user_interaction=True, read_only=True)
    assert decide(_call("deploy", scope="project", trusted=False, hints=forced), org=org).decision == "stage"


def test_bad_policy_documents_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"output_types\.email"):
        OutputPolicy.from_dict({"output_types": {"email": "yolo"}})


async def test_auto_apply_runs_through_the_control_plane_once_and_is_recorded(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        await store.kv_put("output_policy", "org", {"output_types": {"crm_update": "auto"}}, org_id=ORG)
        out = await org.call("mcp__crm__create_task", {"contact_id": "c_acme", "subject": "Send pricing"})
        assert not out.is_error and out.content.startswith("Applied automatically")
        (record,) = await org.integrations.queue.list(ORG)
        assert record["status"] == "executed" and record["auto"] and record["decided_by"].startswith("policy:")
        assert [e["kind"] for e in await org.integrations.queue.ledger(ORG)] == ["crm_update"]
        tasks = org.demo.rows("SELECT subject FROM tasks")
        assert [t["subject"] for t in tasks] == ["Send pricing"]
    finally:
        await org.aclose()


async def test_a_broken_org_policy_fails_closed(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        await store.kv_put("output_policy", "org", {"default": "whatever"}, org_id=ORG)
        out = await org.call("mcp__chat__send_message", {"channel": "#sales", "text": "hi"})
        assert out.content.startswith("Staged as")
    finally:
        await org.aclose()


# ------------------------------------------------------------------ classification and levels


def test_annotations_decide_and_a_tool_without_any_is_judged_by_its_name() -> None:
    import mcp.types as types

    from dexa.integrations.outputs.classify import classify

    def of(name: str, annotations: types.ToolAnnotations | None = None) -> str:
        return classify(name, ToolHints.from_wire(annotations, None)).basis

    assert of("git_log", types.ToolAnnotations(read_only_hint=True)) == "annotation.readOnlyHint"
    # One stated hint means the server annotated it: the spec's defaults fill the rest (readOnlyHint false).
    assert of("list_things", types.ToolAnnotations(destructive_hint=False)) == "annotation.write"
    assert of("list_things", types.ToolAnnotations(title="Only a title")) == "name.read:list"
    assert of("slack_get_users") == "name.read:get"
    assert of("getFileInfo") == "name.read:get"
    assert of("describe_table") == "name.read:describe"
    assert of("slack_post_message") == "name.write:post"
    assert of("write_query") == "name.write:write"
    assert of("get_and_delete") == "name.write:delete"  # a write verb anywhere wins
    assert of("log_event") == "name.unrecognised"  # unknown verbs are writes
    assert of("read_query") == "name.read:read"


def test_levels_org_wins_the_user_sets_the_base_the_project_and_session_only_tighten() -> None:
    from dexa.integrations.outputs.policy import PolicySet

    write = _call("write_query", scope="project", trusted=False, server="db")
    read = _call("read_query", scope="project", trusted=False, server="db", hints=READ)

    def decide_with(**levels: dict) -> tuple[str, str]:
        docs = {k: OutputPolicy.from_dict(v) for k, v in levels.items()}
        got = decide(write, policies=PolicySet(**docs))
        return got.decision, got.rule

    assert decide_with() == ("stage", "annotation.write")
    assert decide_with(user={"integrations": {"db": "direct"}}) == ("direct", "user.integrations.db")
    assert decide_with(org={"integrations": {"db": "stage"}}, user={"integrations": {"db": "direct"}}) == (
        "stage",
        "org.integrations.db",
    )
    # The project cannot loosen what the user or the built-in default decided, but can tighten it.
    assert decide_with(project={"tools": {"db/write_query": "direct"}}) == ("stage", "annotation.write")
    assert decide_with(user={"default": "direct"}, project={"integrations": {"db": "deny"}}) == (
        "deny",
        "project.integrations.db",
    )
    # An org per-tool rule is final, even over a stricter project.
    assert decide_with(org={"tools": {"db/write_query": "direct"}}, project={"default": "deny"}) == (
        "direct",
        "org.tools.db/write_query",
    )
    assert decide(read, policies=PolicySet(project=OutputPolicy.from_dict({"reads": {"db": "stage"}}))).decision == (
        "stage"
    )


def test_settings_files_keep_their_output_policy_levels_apart(tmp_path: Path) -> None:
    import json

    from dexa.config.loader import load_settings

    home, project = tmp_path / "home", tmp_path / "project"
    for base, doc in (
        (home, {"integrations": {"db": "direct"}}),
        (project, {"tools": {"db/read_query": "stage"}}),
    ):
        (base / ".claude").mkdir(parents=True)
        (base / ".claude" / "settings.json").write_text(json.dumps({"dexa": {"outputPolicy": doc}}))
    settings, problems = load_settings(
        str(project),
        home=str(home),
        org_policy={"dexa": {"outputPolicy": {"reads": {"crm": "stage"}}}},
        managed_path=None,
    )
    assert not problems
    layers = settings.dexa.output_policy_layers
    assert layers["org"] == {"reads": {"crm": "stage"}}
    assert layers["user"] == {"integrations": {"db": "direct"}}
    assert layers["project"] == {"tools": {"db/read_query": "stage"}}

"""The event-stream route: on by default with AWS's published Lambda Web Adapter layer; `-c
dexa:webAdapterLayerArn=<ARN>` picks another layer, `=none` turns it off (synthesized once with that set)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ADAPTER = "arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerArm64:25"


@pytest.fixture(scope="module")
def streamed(templates: dict[str, Any]) -> dict[str, Any]:
    return templates


@pytest.fixture(scope="module")
def unstreamed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from stacks.event_stream import CONTEXT_KEY
    from stacks.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.nostream"), context={CONTEXT_KEY: "none"})


@pytest.fixture(scope="module")
def api(streamed: dict[str, Any]) -> dict[str, Any]:
    return streamed["DexaApi"]


def _step_env(agent: dict[str, Any]) -> dict[str, Any]:
    (step,) = [f for f in _of(agent, "AWS::Lambda::Function").values() if "agent step" in f.get("Description", "")]
    return step["Environment"]["Variables"]


def test_model_deltas_go_live_only_where_the_stream_function_reads_them(
    streamed: dict[str, Any], unstreamed: dict[str, Any]
) -> None:
    assert _step_env(streamed["DexaAgent"])["DEXA_LIVE_DELTAS"] == "1"
    # Without the stream, clients long-poll the event log: deltas must stay in it.
    assert "DEXA_LIVE_DELTAS" not in _step_env(unstreamed["DexaAgent"])
    # ... and the API function answers the events route: no stream function, no streaming integration.
    api = unstreamed["DexaApi"]
    assert not [f for f in _of(api, "AWS::Lambda::Function").values() if f["Handler"] == "run.sh"]
    assert "STREAM" not in json.dumps(_of(api, "AWS::ApiGateway::Method"))


def test_by_default_the_stream_runs_on_the_adapter_aws_publishes_for_the_region_and_architecture(
    streamed: dict[str, Any],
) -> None:
    (stream,) = [f for f in _of(streamed["DexaApi"], "AWS::Lambda::Function").values() if f["Handler"] == "run.sh"]
    (layer,) = [x for x in stream["Layers"] if "LambdaAdapterLayer" in json.dumps(x)]
    # arm64 is the default target; the region is the stack's own.
    assert layer == {
        "Fn::Join": ["", ["arn:aws:lambda:", {"Ref": "AWS::Region"}, ":753240598075:layer:LambdaAdapterLayerArm64:28"]]
    }


def test_the_context_picks_another_adapter_layer_or_the_x86_one() -> None:
    import aws_cdk as cdk
    from stacks.event_stream import CONTEXT_KEY, web_adapter_layer_arn

    assert web_adapter_layer_arn(cdk.App(context={CONTEXT_KEY: ADAPTER})) == ADAPTER
    assert web_adapter_layer_arn(cdk.App(context={CONTEXT_KEY: "none"})) is None
    stack = cdk.Stack(cdk.App(context={"dexa:lambdaArch": "x86_64"}), "S", env=cdk.Environment(region="eu-west-1"))
    assert web_adapter_layer_arn(stack) == "arn:aws:lambda:eu-west-1:753240598075:layer:LambdaAdapterLayerX86:28"


def _of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == kind}


def _method_paths(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    resources = _of(template, "AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if not isinstance(ref, dict) or "Ref" not in ref:
            return ""
        res = resources[ref["Ref"]]
        return f"{path(res['ParentId'])}/{res['PathPart']}"

    return {
        (path(m["ResourceId"]) or "/", m["HttpMethod"]): m for m in _of(template, "AWS::ApiGateway::Method").values()
    }


def test_only_the_events_route_streams_from_the_web_adapter_function(api: dict[str, Any]) -> None:
    functions = _of(api, "AWS::Lambda::Function")
    (stream,) = [f for f in functions.values() if f["Handler"] == "run.sh"]
    env = stream["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap" and env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/health" and "DEXA_TABLE" in env
    assert "LambdaAdapterLayer" in json.dumps(stream["Layers"]) and stream["Timeout"] == 900

    methods = _method_paths(api)
    events = methods[("/sessions/{session_id}/events", "GET")]
    assert events["Integration"]["ResponseTransferMode"] == "STREAM"
    assert events["Integration"]["TimeoutInMillis"] == 900_000
    assert events["AuthorizationType"] == "CUSTOM" and events["ApiKeyRequired"] is True
    uri = json.dumps(events["Integration"]["Uri"])
    stream_id = next(k for k, f in functions.items() if f["Handler"] == "run.sh")
    assert stream_id in uri
    # Everything else under /sessions still reaches the API function, behind the authorizer.
    for key in [("/sessions", "ANY"), ("/sessions/{session_id}", "ANY"), ("/sessions/{session_id}/{proxy+}", "ANY")]:
        assert stream_id not in json.dumps(methods[key]["Integration"]["Uri"]), key
        assert methods[key]["AuthorizationType"] == "CUSTOM", key


def test_the_streaming_template_passes_cfn_lint(api: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "DexaApi.template.json"
    path.write_text(json.dumps(api))
    out = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_malformed_adapter_arn_is_refused_naming_the_setting() -> None:
    import aws_cdk as cdk
    from stacks.event_stream import CONTEXT_KEY, web_adapter_layer_arn

    app = cdk.App(context={CONTEXT_KEY: "LambdaAdapterLayerArm64"})
    with pytest.raises(ValueError, match=CONTEXT_KEY):
        web_adapter_layer_arn(app)

"""`dexa cloud`: operate a deployed stack from an operator's machine (AWS credentials, no API key yet).

    dexa cloud bootstrap [--org NAME] [--admin NAME] [--new-admin]   the first org, admin and key (idempotent)
    dexa cloud add-org NAME [--admin NAME]                          another org with its admin and key

Where the stack is: `--table` / `--usage-plan-id` (or DEXA_TABLE / DEXA_USAGE_PLAN_ID), else the file written by
`cdk deploy --outputs-file FILE` (`--outputs FILE`), else the CloudFormation outputs of `<prefix>Data` and
`<prefix>Api`. boto3 honours AWS_ENDPOINT_URL (and `--endpoint-url`), so this also works against moto's server.
The Dexa key is printed once and never stored; `--json` prints one JSON object for scripts.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from dexa.core.errors import ConfigError, DexaError

app = typer.Typer(help="Operate a deployed Dexa stack: bootstrap the first org, add orgs.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe

ENV_USAGE_PLAN = "DEXA_USAGE_PLAN_ID"

Table = Annotated[str | None, typer.Option("--table", help="DynamoDB table (default: $DEXA_TABLE or stack outputs)")]
UsagePlan = Annotated[
    str | None, typer.Option("--usage-plan-id", help=f"API Gateway usage plan (default: ${ENV_USAGE_PLAN} or outputs)")
]
NoGateway = Annotated[bool, typer.Option("--no-gateway", help="Issue no API Gateway key (a stack without one)")]
Outputs = Annotated[Path | None, typer.Option("--outputs", help="`cdk deploy --outputs-file` JSON", exists=True)]
Prefix = Annotated[str, typer.Option("--stack-prefix", help="Stack name prefix for CloudFormation outputs")]
Region = Annotated[str | None, typer.Option("--region", help="AWS region (default: the AWS config's)")]
Endpoint = Annotated[str | None, typer.Option("--endpoint-url", help="AWS endpoint (default: $AWS_ENDPOINT_URL)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object")]
Admin = Annotated[str, typer.Option("--admin", help="The admin user's display name")]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    table: str
    usage_plan_id: str | None
    region: str | None
    endpoint_url: str | None

    def client(self, service: str) -> Any:
        return _boto3().client(service, region_name=self.region, endpoint_url=self.endpoint_url)


def _boto3() -> Any:
    """boto3 comes with the aws extra, not the runtime install (`make demo`, `uv tool install .`): say so."""
    try:
        import boto3
    except ImportError:
        raise ConfigError(
            "dexa cloud talks to AWS through boto3, which is not installed: install Dexa with the aws extra "
            "(pip install 'dexa[aws]', uv tool install '.[aws]', or make test-deps in a checkout)"
        ) from None
    return boto3


def _stack_outputs(path: Path | None, prefix: str, region: str | None, endpoint: str | None) -> dict[str, str]:
    """{output key: value} over the data and API stacks, from the outputs file or CloudFormation."""
    stacks = (f"{prefix}Data", f"{prefix}Api")
    if path is not None:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--outputs {path}: not a readable JSON file ({exc})") from exc
        return {k: str(v) for s in stacks for k, v in (doc.get(s) or {}).items()}
    boto3 = _boto3()
    from botocore.exceptions import BotoCoreError, ClientError

    cfn = boto3.client("cloudformation", region_name=region, endpoint_url=endpoint)
    found: dict[str, str] = {}
    for name in stacks:
        try:
            (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
        except (ClientError, BotoCoreError, ValueError):
            continue
        found.update({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])})
    return found


def resolve_target(
    table: str | None,
    usage_plan_id: str | None,
    *,
    no_gateway: bool,
    outputs: Path | None,
    prefix: str,
    region: str | None,
    endpoint_url: str | None,
) -> Target:
    """Flags, then environment, then stack outputs. Raises ConfigError naming what is missing and where to set it."""
    table = table or os.environ.get("DEXA_TABLE")
    usage_plan_id = None if no_gateway else usage_plan_id or os.environ.get(ENV_USAGE_PLAN)
    if not table or (not no_gateway and not usage_plan_id):
        found = _stack_outputs(outputs, prefix, region, endpoint_url)
        table = table or found.get("TableName")
        if not no_gateway:
            usage_plan_id = usage_plan_id or found.get("UsagePlanId")
    if not table:
        raise ConfigError(
            f"no DynamoDB table: pass --table, set DEXA_TABLE, or give --outputs / a deployed {prefix}Data stack"
        )
    if not no_gateway and not usage_plan_id:
        raise ConfigError(
            f"no API Gateway usage plan: pass --usage-plan-id, set {ENV_USAGE_PLAN}, give --outputs / a deployed "
            f"{prefix}Api stack, or --no-gateway for a stack without API Gateway"
        )
    return Target(table=table, usage_plan_id=usage_plan_id, region=region, endpoint_url=endpoint_url)


def _services(target: Target) -> tuple[Any, Any]:
    from dexa.adapters.aws.dynamo_store import DynamoStore
    from dexa.adapters.aws.gateway_keys import ApiGatewayKeys
    from dexa.auth.gateway import GatewayKeys, NoGatewayKeys
    from dexa.auth.service import AuthService

    store = DynamoStore(target.table, client=target.client("dynamodb"))
    gateway: GatewayKeys = (
        NoGatewayKeys()
        if target.usage_plan_id is None
        else ApiGatewayKeys(target.usage_plan_id, client=target.client("apigateway"))
    )
    return AuthService(store), gateway


def _report(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))  # plain print: no colour codes or wrapping in a machine-read line
        return
    if not result["created"]:
        out.print(
            f"Already bootstrapped: org {result['org_id']}, admin {result['admin_id']}. No key was minted; "
            "`dexa cloud bootstrap --new-admin --admin NAME` adds an admin with a key."
        )
        return
    out.print(f"org      {result['org_id']} ({result['org_name']})")
    out.print(f"admin    {result['admin_id']} ({result['admin_name']})")
    out.print(f"key      {result['key_id']}")
    if result.get("gateway_key_id"):
        out.print(
            f"gateway  API key {result['gateway_key_id']} in usage plan {result['usage_plan_id']} (this org's quota; "
            "clients need not send it: the API's authorizer picks it from the Dexa key or browser session)"
        )
    out.print("\nDexa API key, shown once (store it now; send it as `Authorization: Bearer ...`):")
    print(result["token"])


def _flatten(created: bool, org_id: str, admin_id: str, p: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"created": created, "org_id": org_id, "admin_id": admin_id}
    if p is not None:
        gk = p.gateway_key
        result.update(
            org_name=p.org.name,
            admin_name=p.user.name,
            key_id=p.key.id,
            token=p.token,
            gateway_key_id=gk.id if gk else None,
            gateway_key=gk.value if gk else None,
            usage_plan_id=gk.usage_plan_id if gk else None,
        )
    return result


def _run(fn: Any) -> Any:
    try:
        return asyncio.run(fn)
    except DexaError as exc:
        err.print("[bold red]error:[/]", escape(str(exc)))  # escaped: messages name extras like dexa[aws]
        raise typer.Exit(2) from exc


@app.command()
def bootstrap(
    org: Annotated[str, typer.Option("--org", help="The first org's display name")] = "default",
    admin: Admin = "",
    new_admin: Annotated[
        bool, typer.Option("--new-admin", help="Already bootstrapped: add another admin + key")
    ] = False,
    table: Table = None,
    usage_plan_id: UsagePlan = None,
    no_gateway: NoGateway = False,
    outputs: Outputs = None,
    stack_prefix: Prefix = "Dexa",
    region: Region = None,
    endpoint_url: Endpoint = None,
    as_json: AsJson = False,
) -> None:
    """Create the first org, its admin user and an API key in a deployed stack; print the key once."""
    from dexa.auth.provision import bootstrap as run_bootstrap

    async def go() -> dict[str, Any]:
        target = resolve_target(
            table, usage_plan_id, no_gateway=no_gateway, outputs=outputs, prefix=stack_prefix,
            region=region, endpoint_url=endpoint_url,
        )  # fmt: skip
        auth, gateway = _services(target)
        name = admin or os.environ.get("USER") or "admin"
        res = await run_bootstrap(auth, gateway, org_name=org, admin_name=name, new_admin=new_admin)
        return _flatten(res.created, res.org_id, res.admin_id, res.provisioned)

    _report(_run(go()), as_json=as_json)


@app.command("add-org")
def add_org(
    name: Annotated[str, typer.Argument(help="The new org's display name")],
    admin: Admin = "admin",
    table: Table = None,
    usage_plan_id: UsagePlan = None,
    no_gateway: NoGateway = False,
    outputs: Outputs = None,
    stack_prefix: Prefix = "Dexa",
    region: Region = None,
    endpoint_url: Endpoint = None,
    as_json: AsJson = False,
) -> None:
    """Create another org with its admin, API key and API Gateway key (its own quota)."""
    from dexa.auth.provision import provision_org

    async def go() -> dict[str, Any]:
        target = resolve_target(
            table, usage_plan_id, no_gateway=no_gateway, outputs=outputs, prefix=stack_prefix,
            region=region, endpoint_url=endpoint_url,
        )  # fmt: skip
        auth, gateway = _services(target)
        p = await provision_org(auth, gateway, org_name=name, admin_name=admin)
        return _flatten(True, p.org.id, p.user.id, p)

    _report(_run(go()), as_json=as_json)

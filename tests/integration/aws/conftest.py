"""moto with executing state machines, the agent-step Lambda invoked in-process, the CDK-synthesized ASL."""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto_servers import moto_server_process
from sfn_world import World

from dexa.adapters.aws import DynamoStore, S3BlobStore
from dexa.adapters.aws.moto_harness import (
    MOTO_CONFIG,
    create_functions,
    in_process_lambdas,
    resolve_state_machine,
    serialized_dynamodb,
)
from dexa.adapters.aws.sfn import SfnTurnDriver
from dexa.adapters.aws.tasks import TaskRunner
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.ports import PermissionPolicy, Store
from dexa.core.session import Session
from dexa.core.tools import Tool, ToolRegistry
from dexa.testing.fakes import DirWorkspace, RulePolicy, StaticEnvs
from dexa.testing.scripted import ScriptedModel

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # `stacks` is a top-level package of the repo, as app.py sees it
_names = itertools.count()
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="session")
def clients() -> dict[str, Any]:
    import boto3.session
    import moto  # noqa: F401  # registers moto's botocore hook; clients built before it would reach AWS

    # A session of its own: boto3's default one may predate moto's hook (a moto-server test in this process made
    # it), and its clients would then reach AWS.
    session = boto3.session.Session(**CREDS)
    return {name: session.client(name) for name in ("dynamodb", "s3", "stepfunctions", "lambda", "iam")}


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto in server mode, its own process, one per test module."""
    with moto_server_process() as url:
        yield url


@pytest.fixture(scope="session")
def cdk_templates(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The synthesized app (cached in .pytest_cache by a hash of the stack sources)."""
    from stacks.synth import source_fingerprint, synthesize

    key = f"dexa/cdk-templates/{source_fingerprint()}"
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    templates = cache.get(key, None) if cache is not None else None
    if templates is None:
        templates = synthesize(tmp_path_factory.mktemp("cdk.out"))
        if cache is not None:
            cache.set(key, templates)
    return templates


@pytest.fixture(scope="session")
def definition(cdk_templates: dict[str, Any]) -> tuple[str, list[str]]:
    """The state machine exactly as the CDK stack synthesizes it, with fake ARNs for its functions."""
    return resolve_state_machine(cdk_templates["DexaAgent"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    import boto3
    from moto import mock_aws

    # boto3.client(...) in a test uses boto3's default session: one made before moto's hook was registered (by a
    # moto-server test earlier in this process) would send the test's calls to AWS.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    # moto logs every failed state (including the ones our Retry/Catch handle) with a full dump.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with mock_aws(config=MOTO_CONFIG), serialized_dynamodb():
        yield


@pytest.fixture
def world_factory(
    aws: None, clients: dict[str, Any], definition: tuple[str, list[str]], tmp_path: Path
) -> Iterator[Callable[..., World]]:
    asl, functions = definition
    table, bucket = f"dexa-{next(_names)}", f"dexa-blobs-{next(_names)}"
    clients["s3"].create_bucket(Bucket=bucket)
    DynamoStore(table, client=clients["dynamodb"]).create_table()
    role = create_functions(functions)
    sm_arn = clients["stepfunctions"].create_state_machine(name=f"turn-{next(_names)}", definition=asl, roleArn=role)[
        "stateMachineArn"
    ]
    handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
    with in_process_lambdas(handlers) as calls:

        def make(
            steps: list[Any],
            tools: list[Tool],
            *,
            policy: PermissionPolicy | None = None,
            store_wrapper: Callable[[Store], Store] | None = None,
            asl_override: str | None = None,
            chain: bool = True,
        ) -> World:
            store: Store = DynamoStore(
                table, client=clients["dynamodb"], overflow=S3BlobStore(bucket, client=clients["s3"])
            )
            if store_wrapper is not None:
                store = store_wrapper(store)
            model = ScriptedModel(steps)
            env = SessionEnv(
                model=model,
                tools=ToolRegistry(tools),
                policy=policy or RulePolicy(),
                workspace=DirWorkspace(tmp_path),
                system_prompt="sys",
            )
            engine = TurnEngine(store, StaticEnvs(env))
            machine = sm_arn
            if asl_override is not None:
                machine = clients["stepfunctions"].create_state_machine(
                    name=f"turn-{next(_names)}", definition=asl_override, roleArn=role
                )["stateMachineArn"]
            driver = SfnTurnDriver(engine, machine, client=clients["stepfunctions"])
            # The production cancel cadence (tasks.CANCEL_POLL_S); chain=False: one step per task, as the machine's
            # own paths (PlanTools, the Map) run when a step hands the turn back.
            runner = TaskRunner(engine, driver=driver, chain=chain)
            for name in functions:
                handlers[name] = runner.handle
            import asyncio

            now = time.time()
            asyncio.run(
                store.create_session(
                    Session(
                        id="ses_1",
                        org_id="o",
                        user_id="u",
                        cwd=str(tmp_path),
                        model="scripted",
                        created_at=now,
                        updated_at=now,
                    )
                )
            )
            return World(
                store=store,
                engine=engine,
                driver=driver,
                runner=runner,
                model=model,
                sfn=clients["stepfunctions"],
                calls=calls,
            )

        yield make

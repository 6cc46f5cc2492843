"""The emulated deployment, assembled: synthesized stacks deployed into a moto server, Lambda functions run from
their assets by the emulator, an API Gateway-shaped front, and the loopback model behind the model secret.

The harness imports nothing from dexa. It drives the system as a client and an operator would: HTTP to the API
front, boto3 to moto (the "AWS account"), and `dexa cloud bootstrap` as a command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from .api_front import ApiFront
from .async_invoke import AsyncEvent
from .events_relay import EventsRelay
from .lambda_emulator import LambdaEmulator
from .modal_standin import PACKAGE_PARENT, ModalStandin
from .procs import Child, python
from .provision import REGION, Deployment, Provisioner, _placeholder_zip, asset_dirs
from .synth import MAIL_FROM, WEB_ADAPTER_LAYER, WEB_ADAPTER_LAYER_ARN

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCRIPTS = HERE / "scripts"
WEB_ADAPTER = HERE / "web_adapter"  # the Lambda Web Adapter layer, emulated (web_adapter/README.md)
# Modal's idle timeout (15 min) and lifetime (24 h), scaled down for the test.
MODAL_TIME_SCALE = 0.01
# The Slack app the deployment is connected to (its stand-in runs as slack_server.py).
SLACK_BOT_TOKEN = "xoxb-e2e-bot"
SLACK_SIGNING_SECRET = "e2e-slack-signing-secret"
SLACK_TEAM, SLACK_CHANNEL = "T0E2E", "C0REVIEW"
# The GitHub the deployment is connected to (its stand-in runs as github_server.py), and its one repository.
GITHUB_TOKEN = "ghp_e2e_token"
GITHUB_WEBHOOK_SECRET = "e2e-github-webhook-secret"
GITHUB_REPO = "octo/hello"
GITHUB_FILES = {"README.md": "# hello\n", "greeting.txt": "hello wrld\n"}
# The offline demo's buggy project (`make demo`), as a second repository a session can be started on.
DEMO_REPO = "octo/invoice"
DEMO_FILES = {
    str(p.relative_to(ROOT / "shared/dexa/demo/repo")): p.read_text()
    for p in sorted((ROOT / "shared/dexa/demo/repo").rglob("*"))
    if p.is_file() and "__pycache__" not in p.parts
}
OPERATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDOPERATOR", "AWS_SECRET_ACCESS_KEY": "operator-secret"}


class Cloud:
    def __init__(self, cdk_out: Path, work_dir: Path) -> None:
        self.cdk_out = cdk_out
        self.work_dir = work_dir
        self.log_dir = work_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._children: list[Child] = []
        self._scratch: list[Path] = []
        self.modal: ModalStandin | None = None
        self.api: ApiFront  # set last by _deploy()
        self.emulator = LambdaEmulator(log_dir=self.log_dir, work_dir=work_dir)
        try:
            self._deploy()
        except BaseException:
            self.close()
            raise

    def _deploy(self) -> None:
        work_dir = self.work_dir
        cdk_out = self.cdk_out
        self.moto = self._child("moto", [python(), str(HERE / "moto_launcher.py"), "--lambda-url", self.emulator.url])
        self.session = boto3.Session(
            aws_access_key_id=OPERATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=OPERATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
        provisioner = Provisioner(self.client, cdk_out)
        self._publish_web_adapter(provisioner.deployment)
        self.deployment: Deployment = provisioner.deploy_all()
        self.emulator.bind(
            self.deployment,
            aws_endpoint=self.moto.url,
            lambda_client=self.client("lambda"),
            sqs_client=self.client("sqs"),
        )
        self.model = self._child("model", [python(), str(HERE / "model_server.py"), "--scripts", str(SCRIPTS)])
        self.client("secretsmanager").put_secret_value(
            SecretId=self.agent_resource("AWS::SecretsManager::Secret", "AnthropicApiKey"),
            SecretString=json.dumps({"api_key": "sk-ant-e2e-loopback", "base_url": self.model.url}),
        )
        # Modal, emulated at its SDK boundary (modal_standin/): the fake `modal` package replaces the layer's, and
        # talks to the stand-in server, which runs each sandbox in bubblewrap with Modal's lifecycle.
        self.modal = ModalStandin.start(work_dir / "modal", time_scale=MODAL_TIME_SCALE)
        self.emulator.sdk_mounts = {"/var/emulation/modal-sdk": Path(PACKAGE_PARENT)}
        self.emulator.sdk_env = {"MODAL_STANDIN_URL": self.modal.url}
        self.client("secretsmanager").put_secret_value(
            SecretId=self.agent_resource("AWS::SecretsManager::Secret", "ModalToken"),
            SecretString=json.dumps({"token_id": "ak-e2e-standin", "token_secret": "as-e2e-standin"}),
        )
        # What an operator does to connect the Slack app: its signing secret, and the bot token with the Web API
        # it talks to (here the stand-in; on AWS the secret is just the token, or names https://slack.com/api).
        self.slack = self._child(
            "slack",
            [python(), str(HERE / "slack_server.py"), "--token", SLACK_BOT_TOKEN, "--channel", SLACK_CHANNEL],
        )
        self.client("secretsmanager").put_secret_value(
            SecretId=self.agent_resource("AWS::SecretsManager::Secret", "ReviewSlackBotToken"),
            SecretString=json.dumps({"bot_token": SLACK_BOT_TOKEN, "api_url": f"{self.slack.url}/api"}),
        )
        self.client("secretsmanager").put_secret_value(
            SecretId=self.agent_resource("AWS::SecretsManager::Secret", "SlackSigningSecret"),
            SecretString=SLACK_SIGNING_SECRET,
        )
        # ... and to connect GitHub: the token (with the forge it belongs to) and the webhook secret.
        self.github_root = work_dir / "github"
        self.github = self._child(
            "github",
            [
                python(),
                str(HERE / "github_server.py"),
                "--root",
                str(self.github_root),
                "--token",
                GITHUB_TOKEN,
                "--repo",
                f"{GITHUB_REPO}={json.dumps(GITHUB_FILES)}",
                "--repo",
                f"{DEMO_REPO}={json.dumps(DEMO_FILES)}",
            ],
        )
        self.client("secretsmanager").put_secret_value(
            SecretId=self.agent_resource("AWS::SecretsManager::Secret", "ReviewGithubToken"),
            SecretString=json.dumps(
                {"token": GITHUB_TOKEN, "api_url": f"{self.github.url}/api/v3", "git_url": self.github.url}
            ),
        )
        self.client("secretsmanager").put_secret_value(
            SecretId=self.agent_resource("AWS::SecretsManager::Secret", "GithubWebhookSecret"),
            SecretString=GITHUB_WEBHOOK_SECRET,
        )
        (api,) = self.deployment.physical(self.api_stack, "AWS::ApiGateway::RestApi")
        (stage,) = self.deployment.physical(self.api_stack, "AWS::ApiGateway::Stage")
        self.relay = EventsRelay(
            sfn=self.client("stepfunctions"), events=self.client("events"), lambda_client=self.client("lambda")
        )
        template = json.loads((cdk_out / f"{self.api_stack}.template.json").read_text())
        (rest_api,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
        self.api = ApiFront(
            apigw=self.client("apigateway"),
            lambda_client=self.client("lambda", timeout=29),
            api_id=api.ref,
            stage=stage.ref,
            binary_types=list(rest_api["Properties"].get("BinaryMediaTypes", [])),
            lambda_url=self.emulator.url,
            logs_client=self.client("logs"),
        )
        # What an operator does once: verify the sender in SES, and point links at the URL clients reach (the
        # stack publishes API Gateway's execute-api URL, which here is the front's).
        self.client("ses").verify_email_identity(EmailAddress=MAIL_FROM)
        (public_url,) = self.deployment.physical(self.api_stack, "AWS::SSM::Parameter")
        self.client("ssm").put_parameter(Name=public_url.ref, Value=self.api.url, Type="String", Overwrite=True)
        # And, inbound mail being on, activate the stack's receipt rule set (the stack leaves that to the operator).
        self.inbound_rule_set: str | None = None
        for stack in self.stacks:
            for rule_set in self.deployment.physical(stack, "AWS::SES::ReceiptRuleSet"):
                self.client("ses").set_active_receipt_rule_set(RuleSetName=rule_set.ref)
                self.inbound_rule_set = rule_set.ref

    def _publish_web_adapter(self, deployment: Deployment) -> None:
        """The Lambda Web Adapter layer AWS publishes, here its stand-in, under the ARN the stacks were synthesized
        with: the event-stream function runs with it at /opt, as on AWS."""
        layer = self.client("lambda").publish_layer_version(
            LayerName=WEB_ADAPTER_LAYER,
            Description="Lambda Web Adapter (stand-in: tests/cloud_e2e/web_adapter)",
            Content={"ZipFile": _placeholder_zip()},
        )
        if layer["LayerVersionArn"] != WEB_ADAPTER_LAYER_ARN:
            raise RuntimeError(f"published {layer['LayerVersionArn']}, synthesized with {WEB_ADAPTER_LAYER_ARN}")
        deployment.assets["web-adapter-standin"] = WEB_ADAPTER
        deployment.layer_code[WEB_ADAPTER_LAYER_ARN] = "web-adapter-standin"

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _child(self, name: str, argv: list[str]) -> Child:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANTHROPIC_"))}
        child = Child(name, argv, log_dir=self.log_dir, env=env)
        self._children.append(child)
        return child

    def client(self, service: str, *, timeout: float = 900) -> Any:
        config = Config(
            read_timeout=timeout,
            connect_timeout=5,
            retries={"max_attempts": 0, "mode": "standard"},
            max_pool_connections=64,
        )
        return self.session.client(service, endpoint_url=self.moto.url, config=config)

    @property
    def stacks(self) -> list[str]:
        return list(self.deployment.resources)

    def stack(self, suffix: str) -> str:
        return next(s for s in self.stacks if s.endswith(suffix))

    @property
    def api_stack(self) -> str:
        return self.stack("Api")

    def agent_resource(self, type_: str, logical_prefix: str) -> str:
        for stack, types in self.deployment.types.items():
            for lid, t in types.items():
                if t == type_ and lid.startswith(logical_prefix):
                    return self.deployment.resources[stack][lid].ref
        raise KeyError(f"no {type_} {logical_prefix}* in the deployment")

    @property
    def table(self) -> str:
        return self.deployment.outputs[self.stack("Data")]["TableName"]

    @property
    def bucket(self) -> str:
        return self.deployment.outputs[self.stack("Data")]["BucketName"]

    @property
    def state_machine_arn(self) -> str:
        return self.deployment.outputs[self.stack("Agent")]["StateMachineArn"]

    def aws_requests(self, *, reset: bool = False) -> dict[str, int]:
        import urllib.request

        request = urllib.request.Request(f"{self.moto.url}/_e2e/requests", method="POST" if reset else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def sent_mail(self) -> list[dict[str, Any]]:
        """Mail SES accepted (moto keeps it), oldest first."""
        import urllib.request

        with urllib.request.urlopen(f"{self.moto.url}/_e2e/mail", timeout=10) as response:
            return json.loads(response.read())

    def slack_seen(self, what: str) -> list[dict[str, Any]]:
        """What the Slack stand-in received: "posts" (chat.postMessage) or "responses" (to response_urls)."""
        import urllib.request

        with urllib.request.urlopen(f"{self.slack.url}/_fake/{what}", timeout=10) as response:
            return json.loads(response.read())

    def github_state(self) -> dict[str, Any]:
        """The GitHub stand-in's pull requests, comments and REST requests."""
        import urllib.request

        with urllib.request.urlopen(f"{self.github.url}/_fake/state", timeout=10) as response:
            return json.loads(response.read())

    def model_sent(self, script: str) -> list[dict[str, Any]]:
        """Each text delta the model streamed for `script`, with the time.time() it was sent, oldest first."""
        import urllib.request

        with urllib.request.urlopen(f"{self.model.url}/_e2e/sent/{script}", timeout=10) as response:
            return json.loads(response.read())["sent"]

    def model_requests(self, script: str) -> list[dict[str, Any]]:
        import urllib.request

        with urllib.request.urlopen(f"{self.model.url}/_e2e/requests/{script}", timeout=10) as response:
            return json.loads(response.read())["requests"]

    # -- EventBridge Scheduler (moto stores schedules but never fires them) ------------------------------------------

    def fire_schedule(self, name: str, *, when: str | None = None, timeout: float = 180) -> dict[str, Any]:
        """Fire one schedule as EventBridge Scheduler does: its target's Input, with the context attribute
        `<aws.scheduler.scheduled-time>` substituted, invoked on the target Lambda *asynchronously* (InvocationType
        Event, through moto), so Lambda's own retries and on-failure destination apply (async_invoke.py). Waits for
        the event's last attempt and returns that result; raises if every attempt failed."""
        event = self.fire_schedule_async(name, when=when).wait(timeout)
        error, body = event.attempts[-1] if event.attempts else (True, b"")
        if event.outcome != "succeeded":
            raise RuntimeError(
                f"schedule {name}: {event.outcome} after {len(event.attempts)} attempts: {body[:2000]!r}"
            )
        assert not error
        return json.loads(body or b"null")

    def fire_schedule_async(self, name: str, *, when: str | None = None) -> AsyncEvent:
        """The firing, as the queued event Lambda made of it (its attempts and outcome fill in as it runs)."""
        (group,) = self.deployment.physical(self.stack("Integrations"), "AWS::Scheduler::ScheduleGroup")
        schedule = self.client("scheduler").get_schedule(Name=name, GroupName=group.ref)
        assert schedule["State"] == "ENABLED", schedule
        target = schedule["Target"]
        scheduled = when or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        payload = target.get("Input", "{}").replace("<aws.scheduler.scheduled-time>", scheduled)
        invoker = self.emulator.async_invoker
        assert invoker is not None
        mark = invoker.mark()
        response = self.client("lambda").invoke(
            FunctionName=target["Arn"], InvocationType="Event", Payload=payload.encode()
        )
        assert response["StatusCode"] == 202, response
        return invoker.find(lambda e: e.payload == payload.encode(), after=mark)

    # -- SES inbound (moto stores receipt rules but receives no mail) ------------------------------------------------

    def receive_mail(self, raw: bytes, *, recipients: list[str], sender: str) -> list[AsyncEvent]:
        """Receive one message as SES does for the active rule set: each enabled rule whose recipients match runs
        its actions in order; an S3 action stores the message under its prefix and the message id, a Lambda action
        invokes the function (InvocationType Event: asynchronously, so Lambda's retries and on-failure destination
        apply) with SES's event, the metadata only. SPF, DKIM, spam and virus verdicts are PASS. Returns the queued
        Lambda events."""
        import uuid

        assert self.inbound_rule_set is not None, "the assembly has no inbound mail (dexa:inboundMailDomain)"
        rules = self.client("ses").describe_receipt_rule_set(RuleSetName=self.inbound_rule_set)["Rules"]
        message_id = uuid.uuid4().hex
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        invoker = self.emulator.async_invoker
        assert invoker is not None
        queued: list[AsyncEvent] = []
        for rule in rules:
            matched = [r for r in recipients if _recipient_matches(r, rule.get("Recipients") or [])]
            if not rule.get("Enabled") or not matched:
                continue
            for action in rule.get("Actions") or []:
                if "S3Action" in action:
                    s3 = action["S3Action"]
                    key = s3.get("ObjectKeyPrefix", "") + message_id
                    self.client("s3").put_object(Bucket=s3["BucketName"], Key=key, Body=raw)
                elif "LambdaAction" in action:
                    lam = action["LambdaAction"]
                    verdict = {"status": "PASS"}
                    event = {
                        "Records": [
                            {
                                "eventSource": "aws:ses",
                                "eventVersion": "1.0",
                                "ses": {
                                    "mail": {
                                        "timestamp": now,
                                        "source": sender,
                                        "messageId": message_id,
                                        "destination": recipients,
                                        "headersTruncated": False,
                                    },
                                    "receipt": {
                                        "timestamp": now,
                                        "recipients": matched,
                                        "spamVerdict": verdict,
                                        "virusVerdict": verdict,
                                        "spfVerdict": verdict,
                                        "dkimVerdict": verdict,
                                        "dmarcVerdict": verdict,
                                        "action": {
                                            "type": "Lambda",
                                            "functionArn": lam["FunctionArn"],
                                            "invocationType": lam.get("InvocationType", "Event"),
                                        },
                                    },
                                },
                            }
                        ]
                    }
                    payload = json.dumps(event).encode()
                    mark = invoker.mark()
                    answer = self.client("lambda").invoke(
                        FunctionName=lam["FunctionArn"], InvocationType="Event", Payload=payload
                    )
                    assert answer["StatusCode"] == 202, answer
                    queued.append(invoker.find(lambda e, p=payload: e.payload == p, after=mark))
        return queued

    def inject_fault(self, action: str, *, count: int = 1, code: str = "AccessDeniedException") -> None:
        """Make the next `count` AWS requests `action` ("states:StartExecution") fail with `code`, whoever sends
        them (moto_launcher.py)."""
        import urllib.request

        body = json.dumps({"action": action, "count": count, "code": code}).encode()
        request = urllib.request.Request(f"{self.moto.url}/_e2e/faults", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    # -- operator actions ----------------------------------------------------------------------------------------

    def update_code(self, cdk_out: Path) -> dict[str, str]:
        """What `cdk deploy` does for a code-only change: each layer whose asset changed is published as a new
        version (PublishLayerVersion) and the functions are pointed at it (UpdateFunctionConfiguration); a changed
        function asset replaces the function's code. Warm containers are stopped, so the next invocations start
        cold on the new code. Returns {old layer version ARN: new one}."""
        lam = self.client("lambda")
        dep = self.deployment
        new_assets = asset_dirs(cdk_out)
        replaced: dict[str, str] = {}
        code_of: dict[str, str] = {}
        for stack in dep.resources:
            template = json.loads((cdk_out / f"{stack}.template.json").read_text())
            for lid, res in template.get("Resources", {}).items():
                props = res.get("Properties", {})
                if res["Type"] == "AWS::Lambda::LayerVersion":
                    new_hash = str(props["Content"]["S3Key"]).removesuffix(".zip")
                    old_arn = dep.resources[stack][lid].ref
                    if dep.layer_code.get(old_arn) == new_hash:
                        continue
                    layer = lam.publish_layer_version(
                        LayerName=old_arn.split(":")[6],
                        Content={"ZipFile": _placeholder_zip()},
                        CompatibleRuntimes=props.get("CompatibleRuntimes", []),
                        CompatibleArchitectures=props.get("CompatibleArchitectures", []),
                    )
                    dep.assets[new_hash] = new_assets[new_hash]
                    dep.layer_code[layer["LayerVersionArn"]] = new_hash
                    replaced[old_arn] = layer["LayerVersionArn"]
                elif res["Type"] == "AWS::Lambda::Function":
                    code_of[str(dep.resources[stack][lid].ref)] = str(props["Code"]["S3Key"]).removesuffix(".zip")
        for name, code in dep.function_code.items():
            layers = [replaced.get(arn, arn) for arn in code["layers"]]
            if layers != code["layers"]:
                lam.update_function_configuration(FunctionName=name, Layers=layers)
                code["layers"] = layers
            new_code: str = code_of.get(name) or code["code"]
            if new_code != code["code"]:
                dep.assets[new_code] = new_assets[new_code]
                lam.update_function_code(FunctionName=name, ZipFile=_placeholder_zip())
                code["code"] = new_code
        self.emulator.recycle()
        # Its functions now run from this assembly: it goes when the deployment does (each is ~200 MB).
        self._scratch.append(cdk_out)
        return replaced

    def bootstrap(self, org: str = "e2e", admin: str = "admin") -> dict[str, Any]:
        """`dexa cloud bootstrap --json` against the deployed stack: the first org, admin and keys."""
        (plan,) = self.deployment.physical(self.api_stack, "AWS::ApiGateway::UsagePlan")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEXA_", "ANTHROPIC_"))},
            **OPERATOR_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto.url,
            "HOME": str(self.work_dir / "operator-home"),
        }
        dexa = Path(sys.executable).parent / "dexa"
        argv = [str(dexa), "cloud", "bootstrap", "--org", org, "--admin", admin, "--json"]
        argv += ["--table", self.table, "--usage-plan-id", plan.ref]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"dexa cloud bootstrap failed ({result.returncode}): {result.stderr[-2000:]}")
        doc = json.loads(result.stdout.strip().splitlines()[-1])
        self.api.refresh()  # the new org's API Gateway key
        return doc

    def close(self) -> None:
        api: ApiFront | None = getattr(self, "api", None)
        if api is not None:
            api.close()
        relay: EventsRelay | None = getattr(self, "relay", None)
        if relay is not None:
            relay.close()
        if self.modal is not None:
            self.modal.stop()
        for child in reversed(self._children):
            child.stop()
        self.emulator.close()
        for path in self._scratch:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def running(cdk_out: Path, work_dir: Path | None = None) -> Iterator[Cloud]:
    work = work_dir or Path(tempfile.mkdtemp(prefix="dexa-cloud-e2e-"))
    started = time.monotonic()
    cloud = Cloud(cdk_out, work)
    print(f"\ncloud-e2e: deployed in {time.monotonic() - started:.1f}s; logs in {cloud.log_dir}", file=sys.stderr)
    try:
        yield cloud
    finally:
        cloud.close()


def _recipient_matches(address: str, patterns: list[str]) -> bool:
    """SES's recipient match: an address, a domain (any address at it), or `.domain` (its subdomains)."""
    address = address.lower()
    domain = address.rsplit("@", 1)[-1]
    for pattern in (p.lower() for p in patterns):
        if address == pattern or domain == pattern or (pattern.startswith(".") and domain.endswith(pattern)):
            return True
    return not patterns

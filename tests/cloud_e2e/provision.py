"""Create every resource of the synthesized templates in moto, one API call at a time, as CloudFormation would.

moto's own CloudFormation silently skips 7 of the types these stacks use (aws-modal.md §2.3), so nothing here goes
through it: each type has a handler calling that service's API with the template's properties, and a type without a
handler fails the deployment (`UnhandledResource`), so a new resource in the stacks can't be silently dropped.

Lambda code is not uploaded: functions and layers are created with a placeholder zip, and the emulator runs the
synthesized asset directory their `Code`/`Content` S3Key names (`Deployment.assets`), which is what `cdk deploy`
would have zipped and uploaded.
"""

from __future__ import annotations

import io
import json
import secrets
import string
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
# Types that exist only for the CDK CLI/CloudFormation itself and create nothing in the account.
NO_OP_TYPES = {"AWS::CDK::Metadata"}


class UnhandledResource(Exception):
    """A template resource type the harness can't create: the deployment would be incomplete."""


@dataclass
class Created:
    ref: str
    attrs: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass
class Deployment:
    """What was created: physical ids by stack and logical id, outputs, and the Lambda code directories."""

    cdk_out: Path
    resources: dict[str, dict[str, Created]] = field(default_factory=dict[str, dict[str, Created]])
    types: dict[str, dict[str, str]] = field(default_factory=dict[str, dict[str, str]])
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    exports: dict[str, Any] = field(default_factory=dict[str, Any])
    # asset hash (the S3Key without .zip) -> the synthesized directory cdk deploy would upload
    assets: dict[str, Path] = field(default_factory=dict[str, Path])
    # function name -> {"code": hash, "layers": [layer version arn]}; layer version arn -> hash
    function_code: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    layer_code: dict[str, str] = field(default_factory=dict[str, str])

    def physical(self, stack: str, type_: str) -> list[Created]:
        return [self.resources[stack][lid] for lid, t in self.types[stack].items() if t == type_]

    def function_dirs(self, name: str) -> tuple[Path, list[Path]]:
        code = self.function_code[name]
        return self.assets[code["code"]], [self.assets[self.layer_code[arn]] for arn in code["layers"]]


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("README", "code runs from the synthesized asset directory (tests/cloud_e2e/lambda_emulator.py)")
    return buffer.getvalue()


def _suffix() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))


def stack_order(cdk_out: Path) -> list[str]:
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    stacks = {k: v for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"}
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in stacks[name].get("dependencies", []):
            if dep in stacks:
                visit(dep)
        order.append(name)

    for name in stacks:
        visit(name)
    return order


def asset_dirs(cdk_out: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for manifest in cdk_out.glob("*.assets.json"):
        for asset_hash, spec in json.loads(manifest.read_text()).get("files", {}).items():
            if spec["source"].get("packaging") == "zip":
                found[asset_hash] = (cdk_out / spec["source"]["path"]).resolve()
    return found


class Provisioner:
    def __init__(self, client: Callable[[str], Any], cdk_out: Path) -> None:
        self.client = client
        self.deployment = Deployment(cdk_out=cdk_out, assets=asset_dirs(cdk_out))
        self._stack = ""
        self._template: dict[str, Any] = {}
        self._handlers: dict[str, Callable[[str, dict[str, Any]], Created]] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::DynamoDB::Table": self._ddb_table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::IAM::Role": self._role,
            "AWS::IAM::Policy": self._policy,
            "AWS::Lambda::LayerVersion": self._layer,
            "AWS::Lambda::Function": self._function,
            "AWS::Lambda::Permission": self._permission,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Scheduler::ScheduleGroup": self._schedule_group,
            "AWS::ApiGateway::RestApi": self._rest_api,
            "AWS::ApiGateway::Resource": self._api_resource,
            "AWS::ApiGateway::Method": self._api_method,
            "AWS::ApiGateway::Deployment": self._api_deployment,
            "AWS::ApiGateway::Stage": self._api_stage,
            "AWS::ApiGateway::Account": self._api_account,
            "AWS::ApiGateway::UsagePlan": self._usage_plan,
            "AWS::ApiGateway::ApiKey": self._api_key,
            "AWS::ApiGateway::UsagePlanKey": self._usage_plan_key,
            "AWS::ApiGateway::Authorizer": self._authorizer,
            "AWS::ApiGateway::GatewayResponse": self._gateway_response,
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::SNS::Topic": self._topic,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::Lambda::EventInvokeConfig": self._event_invoke_config,
            "AWS::Events::Rule": self._rule,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::SES::EmailIdentity": self._ses_identity,
            "AWS::SES::ReceiptRuleSet": self._ses_rule_set,
            "AWS::SES::ReceiptRule": self._ses_rule,
        }

    # -- driving ------------------------------------------------------------------------------------------------

    def deploy_all(self) -> Deployment:
        for stack in stack_order(self.deployment.cdk_out):
            self.deploy(stack)
        return self.deployment

    def check_handled(self) -> None:
        """Fail before creating anything when a template holds a type without a handler."""
        missing: set[str] = set()
        for stack in stack_order(self.deployment.cdk_out):
            for res in self._load(stack)["Resources"].values():
                if res["Type"] not in self._handlers and res["Type"] not in NO_OP_TYPES:
                    missing.add(f"{stack}: {res['Type']}")
        if missing:
            raise UnhandledResource(
                "the harness can't create these resource types, so the emulated deployment would lack them: "
                + ", ".join(sorted(missing))
                + " (add a handler in tests/cloud_e2e/provision.py)"
            )

    def _load(self, stack: str) -> dict[str, Any]:
        return json.loads((self.deployment.cdk_out / f"{stack}.template.json").read_text())

    def deploy(self, stack: str) -> None:
        self._stack = stack
        self._template = self._load(stack)
        self.deployment.resources.setdefault(stack, {})
        self.deployment.types[stack] = {lid: r["Type"] for lid, r in self._template["Resources"].items()}
        for lid in self._creation_order():
            res = self._template["Resources"][lid]
            if res["Type"] in NO_OP_TYPES:
                continue
            handler = self._handlers.get(res["Type"])
            if handler is None:
                raise UnhandledResource(f"{stack}/{lid}: no handler for {res['Type']} (tests/cloud_e2e/provision.py)")
            props = self.resolve(res.get("Properties", {}))
            self.deployment.resources[stack][lid] = handler(lid, props)
        outputs = {k: self.resolve(v["Value"]) for k, v in self._template.get("Outputs", {}).items()}
        self.deployment.outputs[stack] = outputs
        for key, out in self._template.get("Outputs", {}).items():
            if "Export" in out:
                self.deployment.exports[self.resolve(out["Export"]["Name"])] = outputs[key]

    def _creation_order(self) -> list[str]:
        resources = self._template["Resources"]
        order: list[str] = []
        visiting: set[str] = set()

        def deps(node: Any, found: set[str]) -> set[str]:
            if isinstance(node, dict):
                if "Ref" in node and node["Ref"] in resources:
                    found.add(node["Ref"])
                if "Fn::GetAtt" in node:
                    target = node["Fn::GetAtt"]
                    found.add(target[0] if isinstance(target, list) else target.split(".")[0])
                if "Fn::Sub" in node:
                    text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
                    for name in _sub_names(text):
                        if name.split(".")[0] in resources:
                            found.add(name.split(".")[0])
                for value in node.values():
                    deps(value, found)
            elif isinstance(node, list):
                for value in node:
                    deps(value, found)
            return found

        def visit(lid: str) -> None:
            if lid in order:
                return
            if lid in visiting:
                raise UnhandledResource(f"{self._stack}: dependency cycle at {lid}")
            visiting.add(lid)
            res = resources[lid]
            depends = res.get("DependsOn", [])
            for dep in sorted(
                deps(res.get("Properties", {}), set()) | set([depends] if isinstance(depends, str) else depends)
            ):
                visit(dep)
            visiting.discard(lid)
            order.append(lid)

        for lid in resources:
            visit(lid)
        return order

    # -- intrinsic functions -------------------------------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                lid, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                created = self.deployment.resources[self._stack][lid]
                if attr not in created.attrs:
                    raise UnhandledResource(f"{self._stack}/{lid}: attribute {attr} is not provided by the harness")
                return created.attrs[attr]
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                for name in _sub_names(text):
                    if name in variables:
                        value = variables[name]
                    elif "." in name and name.split(".")[0] in self.deployment.resources[self._stack]:
                        value = self.resolve({"Fn::GetAtt": name.split(".", 1)})
                    else:
                        value = self._ref(name)
                    text = text.replace("${" + name + "}", str(value))
                return text
            if key == "Fn::ImportValue":
                return self.deployment.exports[self.resolve(arg)]
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key.startswith("Fn::"):
                raise UnhandledResource(f"{self._stack}: intrinsic {key} is not supported by the harness")
        return {k: self.resolve(v) for k, v in node.items()}

    def _ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::StackName":
            return self._stack
        if name in self.deployment.resources.get(self._stack, {}):
            return self.deployment.resources[self._stack][name].ref
        if name in self._template.get("Parameters", {}):
            return self._template["Parameters"][name].get("Default")
        raise UnhandledResource(f"{self._stack}: Ref to {name}, which is not created yet or unknown")

    def _name(self, lid: str, *, lower: bool = False, limit: int = 64) -> str:
        name = f"{self._stack}-{lid[: limit - len(self._stack) - 14]}-{_suffix()}"
        return name.lower() if lower else name

    # -- handlers ------------------------------------------------------------------------------------------------

    def _kms_key(self, lid: str, p: dict[str, Any]) -> Created:
        kms = self.client("kms")
        meta = kms.create_key(Description=p.get("Description", ""), Policy=json.dumps(p.get("KeyPolicy", {})))
        key_id = meta["KeyMetadata"]["KeyId"]
        if p.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key_id)
        return Created(key_id, {"Arn": meta["KeyMetadata"]["Arn"], "KeyId": key_id})

    def _kms_alias(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
        return Created(p["AliasName"])

    def _ddb_table(self, lid: str, p: dict[str, Any]) -> Created:
        ddb = self.client("dynamodb")
        name = p.get("TableName") or self._name(lid)
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in p:
            args["ProvisionedThroughput"] = p["ProvisionedThroughput"]
        if p.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        if p.get("StreamSpecification"):
            args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        if p.get("SSESpecification"):
            sse = p["SSESpecification"]
            args["SSESpecification"] = {
                "Enabled": bool(sse.get("SSEEnabled")),
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        if "DeletionProtectionEnabled" in p:
            args["DeletionProtectionEnabled"] = p["DeletionProtectionEnabled"]
        table = ddb.create_table(**args)["TableDescription"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        pitr = p.get("PointInTimeRecoverySpecification")
        if pitr:
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)
        attrs = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attrs["StreamArn"] = table["LatestStreamArn"]
        return Created(name, attrs)

    def _bucket(self, lid: str, p: dict[str, Any]) -> Created:
        s3 = self.client("s3")
        name = p.get("BucketName") or self._name(lid, lower=True, limit=63)
        s3.create_bucket(Bucket=name)
        if "BucketEncryption" in p:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule.get("ServerSideEncryptionByDefault", {}),
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in p:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if "OwnershipControls" in p:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=p["OwnershipControls"])
        if "LifecycleConfiguration" in p:
            rules = []
            for rule in p["LifecycleConfiguration"]["Rules"]:
                out: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule["Status"]}
                out["Filter"] = {"Prefix": rule.get("Prefix", "")}
                if "AbortIncompleteMultipartUpload" in rule:
                    out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
                if "ExpirationInDays" in rule:
                    out["Expiration"] = {"Days": rule["ExpirationInDays"]}
                if "Transitions" in rule:
                    out["Transitions"] = [
                        {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
                    ]
                rules.append(out)
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
        return Created(
            name,
            {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
            },
        )

    def _bucket_policy(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
        return Created(p["Bucket"])

    def _secret(self, lid: str, p: dict[str, Any]) -> Created:
        args: dict[str, Any] = {"Name": p.get("Name") or f"{lid}-{_suffix()}", "Description": p.get("Description", "")}
        if "SecretString" in p:
            args["SecretString"] = p["SecretString"]
        elif "GenerateSecretString" in p:
            # CloudFormation generates a value; tests overwrite it the way an operator would (put-secret-value).
            args["SecretString"] = secrets.token_urlsafe(24)
        if "KmsKeyId" in p:
            args["KmsKeyId"] = p["KmsKeyId"]
        arn = self.client("secretsmanager").create_secret(**args)["ARN"]
        return Created(arn, {"Id": arn})

    def _log_group(self, lid: str, p: dict[str, Any]) -> Created:
        logs = self.client("logs")
        name = p.get("LogGroupName") or self._name(lid, limit=200)
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in p:
            logs.put_retention_policy(logGroupName=name, retentionInDays=p["RetentionInDays"])
        return Created(name, {"Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"})

    def _role(self, lid: str, p: dict[str, Any]) -> Created:
        iam = self.client("iam")
        name = p.get("RoleName") or self._name(lid)
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]),
            Description=p.get("Description", ""),
        )["Role"]
        for arn in p.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for policy in p.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        return Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def _policy(self, lid: str, p: dict[str, Any]) -> Created:
        iam = self.client("iam")
        for role in p.get("Roles", []):
            iam.put_role_policy(
                RoleName=role, PolicyName=p["PolicyName"], PolicyDocument=json.dumps(p["PolicyDocument"])
            )
        return Created(p["PolicyName"])

    def _asset_hash(self, code: dict[str, Any], where: str) -> str:
        key = str(code.get("S3Key", ""))
        asset_hash = key.removesuffix(".zip")
        if asset_hash not in self.deployment.assets:
            raise UnhandledResource(f"{where}: code {key!r} is not a synthesized asset directory of this cdk.out")
        return asset_hash

    def _layer(self, lid: str, p: dict[str, Any]) -> Created:
        asset_hash = self._asset_hash(p["Content"], f"{self._stack}/{lid}")
        layer = self.client("lambda").publish_layer_version(
            LayerName=p.get("LayerName") or self._name(lid),
            Description=p.get("Description", ""),
            Content={"ZipFile": _placeholder_zip()},
            CompatibleRuntimes=p.get("CompatibleRuntimes", []),
            CompatibleArchitectures=p.get("CompatibleArchitectures", []),
        )
        arn = layer["LayerVersionArn"]
        self.deployment.layer_code[arn] = asset_hash
        return Created(arn, {"LayerVersionArn": arn})

    def _function(self, lid: str, p: dict[str, Any]) -> Created:
        asset_hash = self._asset_hash(p["Code"], f"{self._stack}/{lid}")
        name = p.get("FunctionName") or self._name(lid)
        args: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": p["Runtime"],
            "Role": p["Role"],
            "Handler": p["Handler"],
            "Code": {"ZipFile": _placeholder_zip()},
            "Description": p.get("Description", ""),
            "Timeout": int(p.get("Timeout", 3)),
            "MemorySize": int(p.get("MemorySize", 128)),
            "Environment": {"Variables": {k: str(v) for k, v in p.get("Environment", {}).get("Variables", {}).items()}},
            "Layers": p.get("Layers", []),
            "Architectures": p.get("Architectures", ["x86_64"]),
        }
        if "TracingConfig" in p:
            args["TracingConfig"] = p["TracingConfig"]
        if "LoggingConfig" in p:
            args["LoggingConfig"] = p["LoggingConfig"]
        if "DeadLetterConfig" in p:
            args["DeadLetterConfig"] = p["DeadLetterConfig"]
        fn = self.client("lambda").create_function(**args)
        if "ReservedConcurrentExecutions" in p:
            self.client("lambda").put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(p["ReservedConcurrentExecutions"])
            )
        self.deployment.function_code[name] = {"code": asset_hash, "layers": list(args["Layers"])}
        return Created(name, {"Arn": fn["FunctionArn"]})

    def _permission(self, lid: str, p: dict[str, Any]) -> Created:
        args = {
            "FunctionName": p["FunctionName"],
            "StatementId": lid,
            "Action": p["Action"],
            "Principal": p["Principal"],
        }
        if "SourceArn" in p:
            args["SourceArn"] = p["SourceArn"]
        self.client("lambda").add_permission(**args)
        return Created(lid)

    def _state_machine(self, lid: str, p: dict[str, Any]) -> Created:
        definition = p.get("DefinitionString")
        if definition is None:
            definition = json.dumps(p["Definition"])
        for key, value in (p.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        name = p.get("StateMachineName") or self._name(lid, limit=80)
        args: dict[str, Any] = {
            "name": name,
            "definition": definition,
            "roleArn": p["RoleArn"],
            "type": p.get("StateMachineType", "STANDARD"),
        }
        if "TracingConfiguration" in p:
            args["tracingConfiguration"] = {"enabled": bool(p["TracingConfiguration"].get("Enabled"))}
        arn = self.client("stepfunctions").create_state_machine(**args)["stateMachineArn"]
        return Created(arn, {"Arn": arn, "Name": name})

    def _schedule_group(self, lid: str, p: dict[str, Any]) -> Created:
        name = p.get("Name") or self._name(lid)
        arn = self.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
        return Created(name, {"Arn": arn})

    def _queue(self, lid: str, p: dict[str, Any]) -> Created:
        sqs = self.client("sqs")
        name = p.get("QueueName") or self._name(lid, limit=80)
        attributes = {
            k: (json.dumps(v) if isinstance(v, dict) else str(v))
            for k, v in p.items()
            if k in ("MessageRetentionPeriod", "VisibilityTimeout", "RedrivePolicy", "KmsMasterKeyId", "DelaySeconds")
        }
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Created(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _queue_policy(self, lid: str, p: dict[str, Any]) -> Created:
        for url in p.get("Queues", []):
            self.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
            )
        return Created(lid)

    def _topic(self, lid: str, p: dict[str, Any]) -> Created:
        name = p.get("TopicName") or self._name(lid, limit=200)
        attributes = {"DisplayName": p["DisplayName"]} if "DisplayName" in p else {}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        for sub in p.get("Subscription", []):
            self.client("sns").subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
        return Created(arn, {"TopicArn": arn, "TopicName": name})

    def _alarm(self, lid: str, p: dict[str, Any]) -> Created:
        name = p.get("AlarmName") or self._name(lid, limit=200)
        keys = (
            "AlarmActions", "ComparisonOperator", "Dimensions", "EvaluationPeriods", "MetricName", "Namespace",
            "Period", "Statistic", "Threshold", "TreatMissingData", "AlarmDescription", "OKActions",
            "DatapointsToAlarm",
        )  # fmt: skip
        args = {k: p[k] for k in keys if k in p}
        for number in ("EvaluationPeriods", "Period", "DatapointsToAlarm"):
            if number in args:
                args[number] = int(args[number])
        if "Threshold" in args:
            args["Threshold"] = float(args["Threshold"])
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **args)
        return Created(name, {"Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"})

    def _event_invoke_config(self, lid: str, p: dict[str, Any]) -> Created:
        args: dict[str, Any] = {"FunctionName": p["FunctionName"], "Qualifier": p.get("Qualifier", "$LATEST")}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in p:
                args[key] = int(p[key])
        if "DestinationConfig" in p:
            args["DestinationConfig"] = p["DestinationConfig"]
        self.client("lambda").put_function_event_invoke_config(**args)
        return Created(lid)

    def _rule(self, lid: str, p: dict[str, Any]) -> Created:
        events = self.client("events")
        name = p.get("Name") or self._name(lid)
        args: dict[str, Any] = {
            "Name": name,
            "State": p.get("State", "ENABLED"),
            "Description": p.get("Description", ""),
        }
        if "EventPattern" in p:
            args["EventPattern"] = json.dumps(p["EventPattern"])
        if "ScheduleExpression" in p:
            args["ScheduleExpression"] = p["ScheduleExpression"]
        arn = events.put_rule(**args)["RuleArn"]
        targets = []
        for t in p.get("Targets", []):
            target = {k: t[k] for k in ("Id", "Arn", "Input", "RoleArn", "DeadLetterConfig", "RetryPolicy") if k in t}
            targets.append(target)
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        return Created(name, {"Arn": arn})

    def _ssm_parameter(self, lid: str, p: dict[str, Any]) -> Created:
        name = p.get("Name") or f"CFN-{lid}-{_suffix()}"
        args: dict[str, Any] = {"Name": name, "Value": str(p["Value"]), "Type": p.get("Type", "String")}
        if "Description" in p:
            args["Description"] = p["Description"]
        self.client("ssm").put_parameter(**args)
        return Created(name, {"Type": args["Type"], "Value": args["Value"]})

    def _subscription(self, lid: str, p: dict[str, Any]) -> Created:
        arn = self.client("sns").subscribe(TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"])
        return Created(arn["SubscriptionArn"])

    def _event_source_mapping(self, lid: str, p: dict[str, Any]) -> Created:
        args: dict[str, Any] = {"FunctionName": p["FunctionName"], "EventSourceArn": p["EventSourceArn"]}
        for key in ("BatchSize", "StartingPosition", "Enabled", "FilterCriteria", "MaximumRetryAttempts"):
            if key in p:
                args[key] = p[key]
        uuid = self.client("lambda").create_event_source_mapping(**args)["UUID"]
        return Created(uuid, {"Id": uuid})

    def _ses_identity(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("sesv2").create_email_identity(EmailIdentity=p["EmailIdentity"])
        return Created(p["EmailIdentity"])

    def _ses_rule_set(self, lid: str, p: dict[str, Any]) -> Created:
        name = p.get("RuleSetName") or self._name(lid)
        self.client("ses").create_receipt_rule_set(RuleSetName=name)
        return Created(name)

    def _ses_rule(self, lid: str, p: dict[str, Any]) -> Created:
        """A receipt rule as stored by SES (moto keeps it; the harness delivers mail by it: Cloud.receive_mail)."""
        rule = {"Name": self._name(lid), **p["Rule"]}
        args: dict[str, Any] = {"RuleSetName": p["RuleSetName"], "Rule": rule}
        if "After" in p:
            args["After"] = p["After"]
        self.client("ses").create_receipt_rule(**args)
        return Created(rule["Name"])

    def _rest_api(self, lid: str, p: dict[str, Any]) -> Created:
        apigw = self.client("apigateway")
        args: dict[str, Any] = {"name": p.get("Name", lid), "description": p.get("Description", "")}
        if "EndpointConfiguration" in p:
            args["endpointConfiguration"] = {"types": p["EndpointConfiguration"].get("Types", [])}
        if "BinaryMediaTypes" in p:
            args["binaryMediaTypes"] = p["BinaryMediaTypes"]
        if "ApiKeySourceType" in p:
            args["apiKeySource"] = p["ApiKeySourceType"]
        api = apigw.create_rest_api(**args)
        root = next(r["id"] for r in apigw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")
        return Created(api["id"], {"RootResourceId": root})

    def _api_resource(self, lid: str, p: dict[str, Any]) -> Created:
        res = self.client("apigateway").create_resource(
            restApiId=p["RestApiId"], parentId=p["ParentId"], pathPart=p["PathPart"]
        )
        return Created(res["id"], {"ResourceId": res["id"]})

    def _api_method(self, lid: str, p: dict[str, Any]) -> Created:
        apigw = self.client("apigateway")
        apigw.put_method(
            restApiId=p["RestApiId"],
            resourceId=p["ResourceId"],
            httpMethod=p["HttpMethod"],
            authorizationType=p.get("AuthorizationType", "NONE"),
            apiKeyRequired=bool(p.get("ApiKeyRequired", False)),
            **({"authorizerId": p["AuthorizerId"]} if "AuthorizerId" in p else {}),
        )
        integration = p.get("Integration")
        if integration:
            apigw.put_integration(
                restApiId=p["RestApiId"],
                resourceId=p["ResourceId"],
                httpMethod=p["HttpMethod"],
                type=integration["Type"],
                integrationHttpMethod=integration.get("IntegrationHttpMethod", "POST"),
                uri=integration.get("Uri", ""),
            )
        return Created(lid)

    def _api_deployment(self, lid: str, p: dict[str, Any]) -> Created:
        dep = self.client("apigateway").create_deployment(
            restApiId=p["RestApiId"], description=p.get("Description", "")
        )
        return Created(dep["id"], {"DeploymentId": dep["id"]})

    def _api_stage(self, lid: str, p: dict[str, Any]) -> Created:
        apigw = self.client("apigateway")
        apigw.create_stage(
            restApiId=p["RestApiId"],
            stageName=p["StageName"],
            deploymentId=p["DeploymentId"],
            tracingEnabled=bool(p.get("TracingEnabled", False)),
            variables=p.get("Variables", {}),
        )
        # What the stage declares beyond its deployment, set as the console or CloudFormation sets it: the method
        # settings (throttling: the API front applies it) and where and how access logs are written (the front
        # writes them).
        ops = [
            {"op": "replace", "path": f"/{_method_key(s)}/{name}", "value": str(s[field]).lower()}
            for s in p.get("MethodSettings", [])
            for field, name in _METHOD_SETTINGS.items()
            if field in s
        ]
        access = p.get("AccessLogSetting") or {}
        ops += [
            {"op": "replace", "path": f"/accessLogSettings/{name}", "value": str(access[field])}
            for field, name in (("DestinationArn", "destinationArn"), ("Format", "format"))
            if field in access
        ]
        if ops:
            apigw.update_stage(restApiId=p["RestApiId"], stageName=p["StageName"], patchOperations=ops)
        return Created(p["StageName"], {"MethodSettings": p.get("MethodSettings", [])})

    def _api_account(self, lid: str, p: dict[str, Any]) -> Created:
        """The region's API Gateway settings: the CloudWatch role that access logs are written with."""
        role = p.get("CloudWatchRoleArn")
        ops = [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}] if role else []
        self.client("apigateway").update_account(patchOperations=ops)
        return Created(f"{lid}-{REGION}")

    def _usage_plan(self, lid: str, p: dict[str, Any]) -> Created:
        args: dict[str, Any] = {"name": p.get("UsagePlanName") or self._name(lid)}
        if "ApiStages" in p:
            args["apiStages"] = [{"apiId": s["ApiId"], "stage": s["Stage"]} for s in p["ApiStages"]]
        if "Throttle" in p:
            t = p["Throttle"]
            args["throttle"] = {"burstLimit": int(t.get("BurstLimit", 0)), "rateLimit": float(t.get("RateLimit", 0))}
        if "Quota" in p:
            args["quota"] = {"limit": int(p["Quota"]["Limit"]), "period": p["Quota"]["Period"]}
        plan = self.client("apigateway").create_usage_plan(**args)
        return Created(plan["id"], {"Id": plan["id"]})

    def _api_key(self, lid: str, p: dict[str, Any]) -> Created:
        args: dict[str, Any] = {
            "name": p.get("Name") or self._name(lid),
            "description": p.get("Description", ""),
            "enabled": bool(p.get("Enabled", True)),
        }
        if "Value" in p:
            args["value"] = p["Value"]
        if "StageKeys" in p:
            args["stageKeys"] = [{"restApiId": s["RestApiId"], "stageName": s["StageName"]} for s in p["StageKeys"]]
        key = self.client("apigateway").create_api_key(**args)
        return Created(key["id"], {"APIKeyId": key["id"]})

    def _authorizer(self, lid: str, p: dict[str, Any]) -> Created:
        args: dict[str, Any] = {
            "restApiId": p["RestApiId"],
            "name": p.get("Name") or lid,
            "type": p["Type"],
            "authorizerUri": p.get("AuthorizerUri", ""),
            "identitySource": p.get("IdentitySource", ""),
            "authorizerResultTtlInSeconds": int(p.get("AuthorizerResultTtlInSeconds", 300)),
        }
        auth = self.client("apigateway").create_authorizer(**args)
        return Created(auth["id"], {"AuthorizerId": auth["id"]})

    def _gateway_response(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("apigateway").put_gateway_response(
            restApiId=p["RestApiId"],
            responseType=p["ResponseType"],
            statusCode=str(p.get("StatusCode", "")),
            responseParameters=p.get("ResponseParameters", {}),
            responseTemplates=p.get("ResponseTemplates", {}),
        )
        return Created(f"{p['RestApiId']}:{p['ResponseType']}")

    def _usage_plan_key(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("apigateway").create_usage_plan_key(
            usagePlanId=p["UsagePlanId"], keyId=p["KeyId"], keyType=p.get("KeyType", "API_KEY")
        )
        return Created(f"{p['UsagePlanId']}:{p['KeyId']}")


def _sub_names(text: str) -> list[str]:
    names: list[str] = []
    start = text.find("${")
    while start != -1:
        end = text.find("}", start)
        if end == -1:
            break
        name = text[start + 2 : end]
        if not name.startswith("!"):
            names.append(name)
        start = text.find("${", end)
    return names


_METHOD_SETTINGS = {
    "ThrottlingRateLimit": "throttling/rateLimit",
    "ThrottlingBurstLimit": "throttling/burstLimit",
    "LoggingLevel": "logging/loglevel",
    "DataTraceEnabled": "logging/dataTrace",
    "MetricsEnabled": "metrics/enabled",
}


def _method_key(setting: dict[str, Any]) -> str:
    """A MethodSetting's key in a stage patch path: the resource path with "/" as "~1" ("*" for all), the method."""
    path = setting.get("ResourcePath", "/*")
    resource = "*" if path == "/*" else path.replace("/", "~1")
    return f"{resource}/{setting.get('HttpMethod', '*')}"

"""Pure constants shared by the AWS adapters, the Lambda shims and the CDK stacks (which import only this module).

Single table (aws-modal.md §3). Every key is a string; numbers that need ordering are zero-padded.

    entity          PK                      SK                      notes
    session         SESSION#{sid}           META                    GSI1PK=ORG#{org}#SESSIONS
                                                                    GSI1SK={updated_at}#{sid}
    event counter   SESSION#{sid}           SEQ                     `last`: highest seq handed out
    event           SESSION#{sid}           EVT#{seq:012d}          `expires_at` TTL on old events
    message id      SESSION#{sid}           MSGID#{message_id}      uniqueness guard -> `pos`
    message         SESSION#{sid}           MSG#{pos:08d}           `hidden` flag
    tool record     SESSION#{sid}           TOOL#{tool_use_id}      `status` for conditional transitions
    approval        SESSION#{sid}           APPROVAL#{approval_id}  `status`, task token inside `data`
    kv document     KV#{org}#{namespace}    K#{key}                 checkpoints (TTL), pending outputs, integrations,
                                                                    orgs, keys, audit log, prompts ...

Item payloads are JSON in the `data` attribute (or a blob digest in `blob` when too large for an item).
"""

from __future__ import annotations

from typing import Final

DEFAULT_TABLE_NAME: Final = "dexa"
PK: Final = "PK"
SK: Final = "SK"
GSI1: Final = "GSI1"
GSI1PK: Final = "GSI1PK"
GSI1SK: Final = "GSI1SK"
TTL_ATTRIBUTE: Final = "expires_at"
STREAM_VIEW: Final = "NEW_IMAGE"

# Powertools idempotency table (approval endpoints): its own default schema and TTL.
IDEMPOTENCY_PK: Final = "id"
IDEMPOTENCY_TTL_ATTRIBUTE: Final = "expiration"

BLOB_PREFIX: Final = "blobs/"
TRANSCRIPT_PREFIX: Final = "transcripts/"

# Items bigger than this keep their JSON in S3 and a digest in the item (DynamoDB caps items at 400 KB).
INLINE_LIMIT_BYTES: Final = 96_000

# kv namespaces whose documents expire (seconds); everything else lives until deleted.
KV_TTL_SECONDS: Final[dict[str, int]] = {
    "checkpoints": 30 * 86_400,
    "idempotency": 86_400,
    "cancelled_turns": 8 * 86_400,  # outlives any execution (approvals wait at most TASK_TOKEN_TIMEOUT_SECONDS)
}
EVENT_TTL_SECONDS: Final = 90 * 86_400

# Environment read by the Lambda shims (set by the stacks).
ENV_TABLE: Final = "DEXA_TABLE"
ENV_BUCKET: Final = "DEXA_BUCKET"
ENV_STATE_MACHINE_ARN: Final = "DEXA_STATE_MACHINE_ARN"
ENV_IDEMPOTENCY_TABLE: Final = "DEXA_IDEMPOTENCY_TABLE"
ENV_SCHEDULE_GROUP: Final = "DEXA_SCHEDULE_GROUP"
ENV_SCHEDULER_ROLE_ARN: Final = "DEXA_SCHEDULER_ROLE_ARN"
ENV_SCHEDULER_TARGET_ARN: Final = "DEXA_SCHEDULER_TARGET_ARN"
# The queue a schedule's undeliverable firings go to (each schedule's DeadLetterConfig).
ENV_SCHEDULER_DLQ_ARN: Final = "DEXA_SCHEDULER_DLQ_ARN"
ENV_EVENT_TTL_DAYS: Final = "DEXA_EVENT_TTL_DAYS"
# "1": model deltas go to short-lived LIVE# items read by the event-stream function, not to the event log.
ENV_LIVE_DELTAS: Final = "DEXA_LIVE_DELTAS"

# Lambda function roles; function names in the stacks derive from these.
FN_API: Final = "api"
FN_AGENT_STEP: Final = "agent_step"
FN_WEBHOOKS: Final = "webhooks"
FN_SCHEDULER: Final = "scheduler"
FN_RECONCILER: Final = "reconciler"

# Step Functions: the placeholder the ASL builder leaves for the step function ARN (CDK substitutes it).
STEP_FUNCTION_ARN_PLACEHOLDER: Final = "StepFunctionArn"
STATE_MACHINE_SUFFIX: Final = "turn"
# EventBridge's event for a finished execution, and the endings the reconciler handles (reconcile.py, the rule).
EXECUTION_STATUS_CHANGE: Final = "Step Functions Execution Status Change"
DEAD_EXECUTION_STATUSES: Final = ("FAILED", "TIMED_OUT", "ABORTED")
# Every execution of the turn machine starts with exactly these fields (SfnTurnDriver.start_turn; asl_check).
# traceparent: the turn span's W3C trace context ("" when tracing is off), handed to every step task.
EXECUTION_INPUT_FIELDS: Final = ("session_id", "turn", "calls_base", "traceparent")
TASK_TOKEN_TIMEOUT_SECONDS: Final = 7 * 86_400
# Turn loops this long continue in a fresh execution, keeping each history far below 25,000 events.
MAX_MODEL_CALLS_PER_EXECUTION: Final = 150

# Error class names (dexa.core.errors) are the Lambda errorType Step Functions matches on.
RETRYABLE_MODEL_ERRORS: Final = ("ModelRateLimitError", "ModelUnavailableError")
RETRYABLE_STORAGE_ERRORS: Final = ("ConflictError", "StorageError")
RETRYABLE_LAMBDA_ERRORS: Final = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    # The runtime died mid-invocation (killed out of memory, host failure): Lambda reports the crash as the
    # function's errorType, which is the error name the Task sees.
    "Runtime.ExitError",
)


def session_pk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def event_sk(seq: int) -> str:
    return f"EVT#{seq:012d}"


def message_sk(pos: int) -> str:
    return f"MSG#{pos:08d}"


def kv_pk(org_id: str, namespace: str) -> str:
    return f"KV#{org_id}#{namespace}"


def org_sessions_gsi(org_id: str) -> str:
    return f"ORG#{org_id}#SESSIONS"


def blob_key(digest: str) -> str:
    return f"{BLOB_PREFIX}{digest[:2]}/{digest[2:]}"

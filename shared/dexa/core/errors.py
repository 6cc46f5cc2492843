"""The one Dexa exception tree.

    DexaError
    ├── ConfigError                 a developer or deployment mistake (bad settings file, missing key)
    ├── RunError                    something went wrong while running a session
    │   ├── MaxTurnsError
    │   ├── BudgetExceededError
    │   ├── CancelledRunError
    │   ├── ModelError
    │   │   ├── ModelRateLimitError
    │   │   ├── ModelUnavailableError   (overloaded, 5xx, connection failure)
    │   │   └── ModelRequestError       (4xx the model provider rejected; not retryable)
    │   ├── ToolError                   a tool failed in a way the model should see
    │   │   ├── ToolInputError          the model sent input that does not fit the schema
    │   │   └── ToolTimeoutError
    │   ├── PermissionDeniedError
    │   │   └── EgressDeniedError       a network destination refused by the session's egress policy
    │   ├── SandboxError
    │   └── EnvironmentBuildError   the session's environment (workspace, settings, tools) could not be built
    ├── StorageError
    │   ├── NotFoundError
    │   │   └── CheckpointNotFoundError
    │   └── ConflictError              a conditional write lost a race
    └── Interrupt                      control flow, never escapes the driver
        └── ApprovalRequired

Class names are a contract: Step Functions Retry/Catch match the Lambda errorType, which is the class name.
"""

from __future__ import annotations


class DexaError(Exception):
    """Root of every error Dexa raises on purpose."""

    code: str = "dexa_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(DexaError):
    code = "config_error"


class RunError(DexaError):
    code = "run_error"


class MaxTurnsError(RunError):
    code = "max_turns"


class BudgetExceededError(RunError):
    code = "budget_exceeded"


class CancelledRunError(RunError):
    code = "cancelled"


class ModelError(RunError):
    code = "model_error"

    def __init__(self, message: str = "", *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class ModelRateLimitError(ModelError):
    code = "model_rate_limited"


class ModelUnavailableError(ModelError):
    code = "model_unavailable"


class ModelRequestError(ModelError):
    code = "model_request_rejected"


class ToolError(RunError):
    code = "tool_error"


class ToolInputError(ToolError):
    code = "tool_input_invalid"


class ToolTimeoutError(ToolError):
    code = "tool_timeout"


class PermissionDeniedError(RunError):
    code = "permission_denied"


class EgressDeniedError(PermissionDeniedError):
    code = "egress_denied"

    def __init__(self, message: str, *, host: str = "", address: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.host = host
        self.address = address


class SandboxError(RunError):
    code = "sandbox_error"


class EnvironmentBuildError(RunError):
    code = "environment_error"


class StorageError(DexaError):
    code = "storage_error"


class NotFoundError(StorageError):
    code = "not_found"


class CheckpointNotFoundError(NotFoundError):
    code = "checkpoint_not_found"


class ConflictError(StorageError):
    code = "conflict"


class Interrupt(DexaError):
    """Control flow, not failure: the driver catches these and parks the turn."""

    code = "interrupt"


class ApprovalRequired(Interrupt):
    code = "approval_required"

"""The turn state machine (Amazon States Language, JSONPath style), built here and synthesized by the CDK stack.

JSONPath only: moto executes it in tests, and moto cannot run JSONata or `Assign` (aws-modal.md §2). The state
carried between states stays tiny: {session_id, turn, calls_base, last: {outcome, step, parallel, execution_calls,
history}}. Messages and tool outputs live in the store.

History budget: a Standard execution fails at 25,000 history events. Each step task reports `history`, a running
estimate of the events this execution has written (its own task events and retries, the Choice after it, the Map it
plans; HistoryCost below), which it receives from the previous step; Route hands the turn to a fresh execution
(ContinueAsNew) before a model call once the estimate passes the budget. tests check the estimate against the real
history moto records.

    Turn (Parallel: its Catch is the top-level Catch)
      BeginTurn -> Route -> CallModel | DecideTools | AwaitApproval | PlanTools | EndTurn -> Route ...
        outcome "wait"    -> WaitForDecision (lambda:invoke.waitForTaskToken) -> AfterDecision -> Route
        outcome "done"    -> Done
        outcome "failed"  -> ModelFailed (Fail; the session stays resumable)
        PlanTools -> RunReadOnlyTools (Map over read-only tool ids, one RunTool task each) -> RunTools -> Route
    Catch States.ALL -> RecordFailure (appends the failure to the event log) -> TurnFailed

Every step task calls the one agent-step Lambda with {"task": <step>, ...}; its errors keep their class name as
errorType, which the Retry blocks below match (dexa.core.errors: class names are a contract).

This module is pure (stdlib + schema): the CDK stacks import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import schema

STEP_STATES: dict[str, str] = {
    "begin_turn": "BeginTurn",
    "call_model": "CallModel",
    "decide_tools": "DecideTools",
    "await_approval": "AwaitApproval",
    "run_tools": "PlanTools",
    "end_turn": "EndTurn",
}
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
# Events a history can take and still finish the iteration in flight (a 40-item Map is under 300) plus margin.
HISTORY_BUDGET = 20_000
LAMBDA_CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
TASK_TIMEOUT_S = 900  # the Lambda maximum; explicit so a lost invocation can not hang a turn


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Backoff for the three families of retryable errors. Each retry is a billed state transition."""

    model_interval_s: int = 2
    model_attempts: int = 5
    model_max_delay_s: int = 60
    storage_interval_s: int = 1
    storage_attempts: int = 4
    lambda_interval_s: int = 1
    lambda_attempts: int = 6

    def blocks(self, *, model: bool) -> list[dict[str, Any]]:
        def retrier(errors: tuple[str, ...], interval: int, attempts: int, max_delay: int) -> dict[str, Any]:
            return {
                "ErrorEquals": list(errors),
                "IntervalSeconds": interval,
                "MaxAttempts": attempts,
                "BackoffRate": 2.0,
                "MaxDelaySeconds": max_delay,
                "JitterStrategy": "FULL",
            }

        out = [
            retrier(schema.RETRYABLE_LAMBDA_ERRORS, self.lambda_interval_s, self.lambda_attempts, 30),
            retrier(schema.RETRYABLE_STORAGE_ERRORS, self.storage_interval_s, self.storage_attempts, 10),
        ]
        if model:
            out.insert(
                0,
                retrier(
                    schema.RETRYABLE_MODEL_ERRORS, self.model_interval_s, self.model_attempts, self.model_max_delay_s
                ),
            )
        return out


@dataclass(frozen=True, slots=True)
class HistoryCost:
    """History events each shape of this machine writes (as Step Functions and moto record them)."""

    start: int = 3  # ExecutionStarted, ParallelStateEntered, ParallelStateStarted
    task: int = 5  # TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited
    retry: int = 3  # TaskFailed, TaskScheduled, TaskStarted of each further attempt
    choice: int = 2  # ChoiceStateEntered, ChoiceStateExited
    map: int = 4  # MapStateEntered, MapStateStarted, MapStateSucceeded, MapStateExited
    map_item: int = 7  # MapIterationStarted, a task's 5, MapIterationSucceeded
    callback: int = 8  # the waitForTaskToken task (TaskSubmitted too) and the AfterDecision Pass

    def after_task(self, task: str, *, retries: int, parallel: int) -> int:
        """What a step task added: itself, its retries, the Choice after it and the Map it planned."""
        cost = self.task + self.retry * retries + self.choice
        if task == "begin_turn":
            cost += self.start
        if task == "plan_tools":
            cost += self.choice + (self.map + self.map_item * parallel if parallel else 0)
        return cost


HISTORY_COST = HistoryCost()


def _payload(task: str, **extra: Any) -> dict[str, Any]:
    # calls_base: model calls the turn made in earlier executions (continue-as-new); traceparent: the turn span's
    # trace context (dexa.core.tracing). Both always in the input (schema.EXECUTION_INPUT_FIELDS).
    return {
        "task": task,
        "session_id.$": "$.session_id",
        "turn.$": "$.turn",
        "calls_base.$": "$.calls_base",
        "traceparent.$": "$.traceparent",
        **extra,
    }


def _counted(task: str, limits: dict[str, int]) -> dict[str, Any]:
    """A step's payload with the history estimate so far, this attempt's retry count, and Route's limits (a task
    running several steps stops before a model call where Route would continue the turn in a fresh execution)."""
    extra: dict[str, Any] = {"retries.$": "$$.State.RetryCount", **limits}
    if task != "begin_turn":  # BeginTurn is the first state: no estimate exists yet
        extra["history.$"] = "$.last.history"
    return _payload(task, **extra)


def _invoke(function_arn: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"FunctionName": function_arn, "Payload": payload}


_RESULT = {
    "outcome.$": "$.Payload.outcome",
    "step.$": "$.Payload.step",
    "parallel.$": "$.Payload.parallel",
    "execution_calls.$": "$.Payload.execution_calls",
    "history.$": "$.Payload.history",
}


def _step_task(
    fn: str, task: str, retry: RetryPolicy, limits: dict[str, int], *, next_state: str = "Route"
) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": _invoke(fn, _counted(task, limits)),
        "ResultSelector": _RESULT,
        "ResultPath": "$.last",
        "TimeoutSeconds": TASK_TIMEOUT_S,
        # Any step task may reach a model call: one invocation runs consecutive steps (tasks.TaskRunner._step).
        "Retry": retry.blocks(model=task != "plan_tools"),
        "Next": next_state,
    }


def _route(max_model_calls: int, history_budget: int) -> dict[str, Any]:
    choices: list[dict[str, Any]] = [
        {"Variable": "$.last.outcome", "StringEquals": "done", "Next": "Done"},
        {"Variable": "$.last.outcome", "StringEquals": "failed", "Next": "ModelFailed"},
        {"Variable": "$.last.outcome", "StringEquals": "wait", "Next": "WaitForDecision"},
        {
            "And": [
                {"Variable": "$.last.step", "StringEquals": "call_model"},
                {
                    "Or": [
                        {"Variable": "$.last.history", "NumericGreaterThanEquals": history_budget},
                        {"Variable": "$.last.execution_calls", "NumericGreaterThanEquals": max_model_calls},
                    ]
                },
            ],
            "Next": "ContinueAsNew",
        },
    ]
    choices += [{"Variable": "$.last.step", "StringEquals": step, "Next": state} for step, state in STEP_STATES.items()]
    return {"Type": "Choice", "Choices": choices, "Default": "UnknownStep"}


def _turn_states(
    fn: str,
    retry: RetryPolicy,
    approval_timeout_s: int,
    max_model_calls: int,
    map_concurrency: int,
    history_budget: int,
) -> dict[str, Any]:
    limits = {"history_budget": history_budget, "max_model_calls": max_model_calls}
    states: dict[str, Any] = {
        "BeginTurn": _step_task(fn, "begin_turn", retry, limits),
        "Route": _route(max_model_calls, history_budget),
        "CallModel": _step_task(fn, "call_model", retry, limits),
        "DecideTools": _step_task(fn, "decide_tools", retry, limits),
        "AwaitApproval": _step_task(fn, "await_approval", retry, limits),
        "PlanTools": _step_task(fn, "plan_tools", retry, limits, next_state="HasParallelTools"),
        "HasParallelTools": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.last.parallel[0]", "IsPresent": True, "Next": "RunReadOnlyTools"}],
            "Default": "RunTools",
        },
        "RunReadOnlyTools": {
            "Type": "Map",
            "ItemsPath": "$.last.parallel",
            "MaxConcurrency": map_concurrency,
            # Each item's input is exactly this selector: every field RunTool's payload reads must be listed here
            # (a missing one is States.Runtime on AWS, which no Catch sees; asl_check proves it statically).
            "ItemSelector": {
                "session_id.$": "$.session_id",
                "turn.$": "$.turn",
                "calls_base.$": "$.calls_base",
                "traceparent.$": "$.traceparent",
                "tool_use_id.$": "$$.Map.Item.Value",
            },
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "RunTool",
                "States": {
                    "RunTool": {
                        "Type": "Task",
                        "Resource": LAMBDA_INVOKE,
                        "Parameters": _invoke(fn, _payload("run_tool", **{"tool_use_id.$": "$.tool_use_id"})),
                        "ResultPath": None,
                        "TimeoutSeconds": TASK_TIMEOUT_S,
                        "Retry": retry.blocks(model=False),
                        # One failed item must not sink the turn: RunTools reports it (interrupted or re-run).
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ToolLeftOver"}],
                        "End": True,
                    },
                    "ToolLeftOver": {"Type": "Pass", "End": True},
                },
            },
            "ResultPath": None,
            "Next": "RunTools",
        },
        "RunTools": _step_task(fn, "run_tools", retry, limits),
        "EndTurn": _step_task(fn, "end_turn", retry, limits),
        "WaitForDecision": {
            "Type": "Task",
            "Resource": LAMBDA_CALLBACK,
            "Parameters": _invoke(fn, _payload("await_decision", **{"token.$": "$$.Task.Token"})),
            "ResultPath": "$.decision",
            "TimeoutSeconds": approval_timeout_s,
            "Retry": retry.blocks(model=False),
            "Catch": [
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.decision", "Next": "ExpireApprovals"},
                # The driver fails the token with "Cancelled" so the turn finishes through its own steps.
                {"ErrorEquals": ["Cancelled"], "ResultPath": "$.decision", "Next": "AfterDecision"},
            ],
            "Next": "AfterDecision",
        },
        "ExpireApprovals": {
            "Type": "Task",
            "Resource": LAMBDA_INVOKE,
            "Parameters": _invoke(fn, _payload("expire_approvals")),
            "ResultPath": None,
            "TimeoutSeconds": TASK_TIMEOUT_S,
            "Retry": retry.blocks(model=False),
            "Next": "AfterDecision",
        },
        "AfterDecision": {
            "Type": "Pass",
            "Parameters": {
                "outcome": "next",
                "step.$": "$.last.step",
                "parallel": [],
                "execution_calls.$": "$.last.execution_calls",
                "history.$": f"States.MathAdd($.last.history, {HISTORY_COST.callback})",
            },
            "ResultPath": "$.last",
            "Next": "Route",
        },
        "ContinueAsNew": {
            "Type": "Task",
            "Resource": LAMBDA_INVOKE,
            "Parameters": _invoke(fn, _payload("continue_as_new")),
            "ResultPath": None,
            "TimeoutSeconds": TASK_TIMEOUT_S,
            "Retry": retry.blocks(model=False),
            "Next": "Done",
        },
        "ModelFailed": {"Type": "Fail", "Error": "ModelError", "Cause": "the model call failed; see the event log"},
        "UnknownStep": {"Type": "Fail", "Error": "UnknownStep", "Cause": "the session names a step this machine lacks"},
        "Done": {"Type": "Succeed"},
    }
    return states


def turn_definition(
    *,
    step_function_arn: str = "${" + schema.STEP_FUNCTION_ARN_PLACEHOLDER + "}",
    retry: RetryPolicy | None = None,
    approval_timeout_s: int = schema.TASK_TOKEN_TIMEOUT_SECONDS,
    max_model_calls: int = schema.MAX_MODEL_CALLS_PER_EXECUTION,
    map_concurrency: int = 16,
    history_budget: int = HISTORY_BUDGET,
) -> dict[str, Any]:
    """The whole state machine as a dict. The default ARN is a DefinitionSubstitutions placeholder for CDK."""
    if not 1 <= map_concurrency <= 40:
        raise ValueError(f"map_concurrency must be 1..40 (inline Map limit), got {map_concurrency}")
    retry = retry or RetryPolicy()
    branch = {
        "StartAt": "BeginTurn",
        "States": _turn_states(
            step_function_arn, retry, approval_timeout_s, max_model_calls, map_concurrency, history_budget
        ),
    }
    return {
        "Comment": "Dexa: one durable agent turn; each step is the agent-step Lambda over persisted state",
        "StartAt": "Turn",
        "States": {
            "Turn": {
                "Type": "Parallel",
                "Branches": [branch],
                "ResultPath": None,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}],
                "Next": "TurnDone",
            },
            "RecordFailure": {
                "Type": "Task",
                "Resource": LAMBDA_INVOKE,
                "Parameters": _invoke(step_function_arn, _payload("record_failure", **{"error.$": "$.error"})),
                "ResultPath": None,
                "TimeoutSeconds": TASK_TIMEOUT_S,
                "Retry": retry.blocks(model=False),
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "TurnFailed"}],
                "Next": "TurnFailed",
            },
            "TurnFailed": {"Type": "Fail", "Error": "TurnFailed", "Cause": "the failure is recorded in the event log"},
            "TurnDone": {"Type": "Succeed"},
        },
    }


def turn_definition_json(**kwargs: Any) -> str:
    return json.dumps(turn_definition(**kwargs), indent=1, sort_keys=False)

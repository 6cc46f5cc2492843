"""Agent-step Lambda: every Task state of the turn machine lands here ({"task": <step>, "session_id", "turn"})."""

from dexa.cloud.lambdas import step_handler

handler = step_handler()

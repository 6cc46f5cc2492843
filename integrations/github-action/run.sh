#!/usr/bin/env bash
# The Dexa action's step: `dexa run -p` headless with stream-json, transcript kept, result exposed as outputs.
# Inputs arrive as DEXA_* environment variables (see action.yml); GitHub's GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and
# RUNNER_TEMP are used when present, so the script also runs outside Actions.
set -euo pipefail

: "${DEXA_PROMPT:?the prompt input is required}"
out_dir="${RUNNER_TEMP:-$(mktemp -d)}"
transcript="$out_dir/dexa-transcript-$$.jsonl"

args=(run -p "$DEXA_PROMPT" --output-format stream-json --verbose)
if [[ -n "${DEXA_MODEL:-}" ]]; then args+=(--model "$DEXA_MODEL"); fi
if [[ -n "${DEXA_MAX_TURNS:-}" ]]; then args+=(--max-turns "$DEXA_MAX_TURNS"); fi
if [[ -n "${DEXA_PERMISSION_MODE:-}" ]]; then args+=(--permission-mode "$DEXA_PERMISSION_MODE"); fi
if [[ -n "${DEXA_ALLOWED_TOOLS:-}" ]]; then args+=(--allowedTools "$DEXA_ALLOWED_TOOLS"); fi

status=0
dexa "${args[@]}" < /dev/null > "$transcript" || status=$?

python3 - "$transcript" "$status" <<'PY'
import json
import os
import secrets
import sys

path, status = sys.argv[1], int(sys.argv[2])
result = {}
with open(path, encoding="utf-8") as fh:
    for line in fh:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "result":
            result = event
answer = str(result.get("result") or "")
is_error = bool(result.get("is_error", True)) or status != 0
delimiter = "DEXA_" + secrets.token_hex(8)
outputs = (f"session_id={result.get('session_id', '')}\n"
           f"is_error={'true' if is_error else 'false'}\n"
           f"transcript={path}\n"
           f"result<<{delimiter}\n{answer}\n{delimiter}\n")
with open(os.environ.get("GITHUB_OUTPUT", os.devnull), "a", encoding="utf-8") as fh:
    fh.write(outputs)
summary = os.environ.get("GITHUB_STEP_SUMMARY")
if summary:
    with open(summary, "a", encoding="utf-8") as fh:
        fh.write(f"### Dexa ({'failed' if is_error else 'done'})\n\n{answer}\n")
print(answer if answer else "Dexa produced no result (see the transcript).")
PY
exit "$status"

#!/bin/sh
# The event-stream function's "handler" under the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap,
# AWS_LWA_INVOKE_MODE=response_stream): the adapter starts this, waits for /health, and streams each response back.
# This is not the managed runtime's bootstrap, so nothing puts the layer on the path: Lambda's PYTHONPATH is only
# /var/runtime. The layer goes first, as the runtime would order it (its boto3 shadows the runtime's).
export PYTHONPATH="/var/task:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m dexa.cloud.stream

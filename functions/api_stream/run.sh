#!/bin/sh
# The event-stream function's "handler" under the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap,
# AWS_LWA_INVOKE_MODE=response_stream): the adapter starts this, waits for /health, and streams each response back.
exec python3 -m dexa.adapters.aws.stream_server

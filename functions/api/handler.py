"""API Lambda: dexa.api (FastAPI) through Mangum behind API Gateway; the runtime is built on the first request."""

from dexa.adapters.aws.lambda_entry import api_handler

handler = api_handler()

"""API Lambda: dexa.api (FastAPI) through Mangum behind API Gateway, and the same API's request authorizer (it maps
a Dexa key or browser cookie to the org's usage-plan key); the runtime is built on the first API request."""

from dexa.adapters.aws.api_front import with_authorizer
from dexa.cloud.lambdas import api_handler

handler = with_authorizer(api_handler())

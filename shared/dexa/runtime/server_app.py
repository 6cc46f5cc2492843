"""Moved to dexa.server_app (a surface: it composes the API, the web UI and the runtime).

TODO(issue 19.5): this alias remains only for the cloud entry modules in adapters/aws (lambda_entry, stream_server),
whose owner is moving that composition out of adapters; once they import dexa.server_app, delete this module
and its ignore line in pyproject.toml's layers contract.
"""

from dexa.server_app import IntegrationsPort, LinksPort, OutputsPort, PermissionCheck, build_app, extra_routers

__all__ = ["IntegrationsPort", "LinksPort", "OutputsPort", "PermissionCheck", "build_app", "extra_routers"]

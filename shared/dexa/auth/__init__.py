"""Orgs, users, API keys (hashed at rest, scoped, revocable), roles and the local bootstrap."""

from .bootstrap import LOCAL_ORG, LOCAL_USER, bootstrap_local, read_local_token, token_path
from .models import ROLE_SCOPES, ROLES, SCOPES, ApiKey, Org, Principal, Role, Scope, User
from .service import AuthService

__all__ = [
    "LOCAL_ORG",
    "LOCAL_USER",
    "ROLES",
    "ROLE_SCOPES",
    "SCOPES",
    "ApiKey",
    "AuthService",
    "Org",
    "Principal",
    "Role",
    "Scope",
    "User",
    "bootstrap_local",
    "read_local_token",
    "token_path",
]

"""Pydantic request/response models (XCreate / XPublic / XsPublic). Imports pydantic only, never FastAPI."""

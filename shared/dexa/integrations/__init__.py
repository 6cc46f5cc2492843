"""Business integrations: the provider catalogue, the registry with OAuth and a vault, managed MCP servers,
and the staged-output layer.
"""

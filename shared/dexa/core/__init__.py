"""Pure domain and the durable agent turn. Stdlib and pydantic only: no vendor SDK is imported here."""

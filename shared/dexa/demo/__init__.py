"""The offline demo: a small repo with a failing test, and the script a model follows to fix it."""

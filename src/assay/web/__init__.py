"""The web UI: a Starlette app of server-rendered pages, its drawings made in Python."""

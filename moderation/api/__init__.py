"""The HTTP API (Starlette handlers, JSON in and out). The application that serves it, with the
web UI, is assembled by ``moderation.app.create_app``."""

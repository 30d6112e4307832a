"""The HTTP API (Starlette). ``create_app(settings)`` is the public entry point."""

from moderation.api.app import create_app

__all__ = ["create_app"]

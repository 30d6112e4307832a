"""ASGI entry points for uvicorn (``factory=True``): ``moderation.asgi:app``, the API, and
``moderation.asgi:metrics_app``, the localhost ``/metrics`` listener.

A factory, so each uvicorn worker process reads its settings once at start.
"""

from __future__ import annotations

from starlette.applications import Starlette

from moderation import logs
from moderation.app import create_app, create_metrics_app
from moderation.settings import Settings


def app() -> Starlette:
    return create_app(_settings())


def metrics_app() -> Starlette:
    """The localhost ``/metrics`` listener (``moderation metrics``)."""
    return create_metrics_app(_settings())


def _settings() -> Settings:
    settings = Settings.from_env()
    logs.setup(settings.log_level)
    return settings

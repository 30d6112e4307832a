"""ASGI entry point for uvicorn: ``moderation.asgi:app`` with ``factory=True``.

A factory, so each uvicorn worker process reads its settings once at start.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette

from moderation.app import create_app
from moderation.settings import Settings


def app() -> Starlette:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    return create_app(settings)

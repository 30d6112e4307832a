"""A real uvicorn serving the app (and, optionally, a real scoring worker) on a free port, in a
background thread with its own event loop: for browser tests and streaming (SSE) tests."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from redis.asyncio import Redis as AsyncRedis

from moderation.app import create_app
from moderation.scoring.base import Scorer
from moderation.settings import Settings
from tests.conftest import free_port, linear_scorer
from workers.scoring import ScoringWorker


class LiveServer:
    def __init__(
        self, settings: Settings, *, with_worker: bool = True, scorer: Scorer | None = None
    ) -> None:
        self.settings = settings
        self.with_worker = with_worker
        self.scorer = scorer
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._worker: ScoringWorker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    def start(self) -> LiveServer:
        # Loaded outside the loop.
        scorer = (self.scorer or linear_scorer()) if self.with_worker else None
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = uvicorn.Server(config)

        async def main() -> None:
            tasks: list[asyncio.Task[Any]] = []
            redis = AsyncRedis.from_url(self.settings.resolved_redis_url())
            if scorer is not None:
                self._worker = ScoringWorker(self.settings, redis, scorer, name="live-worker")
                tasks.append(asyncio.create_task(self._worker.run()))
            assert self._server is not None
            try:
                await self._server.serve()
            finally:
                if self._worker is not None:
                    self._worker.request_stop()
                await asyncio.gather(*tasks, return_exceptions=True)
                await redis.aclose()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(main())
            except BaseException as exc:  # surfaced by start()/stop()
                self._error = exc
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="live-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)

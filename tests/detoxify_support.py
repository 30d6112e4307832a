"""Fixtures for the Detoxify tests: tiny random-weight releases served over real HTTP.

Loaded as a plugin (``pytest_plugins`` in ``conftest``).

``synthetic.build`` writes, for each of detoxify's five models, a checkpoint shaped like the
release (2-layer model of the right family, the release's class list and output count) and a
Hub-shaped tree of the base model's config and tokenizer files. A ``ThreadingHTTPServer`` serves
them, and ``moderation models pull`` fetches them exactly as it would from GitHub and the Hub.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from moderation.scoring import synthetic
from moderation.scoring.catalog import MODELS
from moderation.scoring.pull import pull
from moderation.scoring.weights import ModelFiles


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Release:
    """Synthetic releases of every model, served at ``base``."""

    root: Path
    base: str
    made: dict[str, synthetic.Synthetic]
    requests: list[str]

    def checkpoint_url(self, model: str) -> str:
        return f"{self.base}/{self.made[model].checkpoint.name}"

    @property
    def hub_url(self) -> str:
        return f"{self.base}/hub"


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    pytest.importorskip("detoxify", reason="the detoxify extra is not installed")
    root = tmp_path_factory.mktemp("release")
    made = {name: synthetic.build(name, root, seed=i) for i, name in enumerate(MODELS)}
    bad = synthetic.build("original", root / "bad", key_prefix="model.")
    made["prefixed"] = bad
    seen: list[str] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:
            seen.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Release(root, f"http://127.0.0.1:{server.server_port}", made, seen)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def model_dir(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every model pulled over HTTP (ONNX exported for ``original`` only, to save time)."""
    out = tmp_path_factory.mktemp("models")
    for name in MODELS:
        pull(
            name,
            out,
            checkpoint_url=release.checkpoint_url(name),
            hub_url=release.hub_url,
            export_onnx=name == "original",
            say=lambda line: None,
        )
    return out


def files(model_dir: Path, name: str) -> ModelFiles:
    return ModelFiles.at(model_dir, name)

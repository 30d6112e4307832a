"""``moderation models pull``: fetch a Detoxify model once, so workers start fully offline.

What it does, in order, into a staging folder that replaces ``<dir>/<model>`` only when all of
it worked:

1. Downloads the checkpoint from detoxify's release URL and records its SHA-256. ``--sha256``
   pins the expected digest (the download is refused otherwise). The hex in a release's file
   name is only compared, with a warning on mismatch: detoxify's release script hashes one save
   of the checkpoint and then saves it again under the hashed name, and a zip-format save
   embeds its file name, so the name need not match the bytes.
2. Reads the base model the checkpoint was trained from (``model_type``: ``bert-base-uncased``,
   ``roberta-base``, ...) and downloads that model's config and tokenizer files from the Hub.
3. Fixes the offline traps: ``config.json`` declares the checkpoint's label count, the tokenizer
   config sets ``model_max_length: 512``, and the checkpoint's ``model_type`` is rewritten to the
   local ``hf/`` folder, so plain ``detoxify.Detoxify(checkpoint=...,
   huggingface_config_path=...)`` works offline too.
4. Loads the result through the worker's own loader (which verifies every weight), writes
   ``manifest.json``, and exports the ONNX runtime files (unless ``--no-onnx``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from moderation.errors import ModelUnavailable
from moderation.scoring.catalog import HUB_URL, MODEL_MAX_LENGTH, get_model
from moderation.scoring.weights import CHECKPOINT, HF_DIR, ModelFiles

log = logging.getLogger(__name__)

#: Tokenizer files each tokenizer class needs (the Hub repository may hold more).
TOKENIZER_FILES: dict[str, tuple[str, ...]] = {
    "BertTokenizer": ("vocab.txt",),
    "RobertaTokenizer": ("vocab.json", "merges.txt"),
    "XLMRobertaTokenizer": ("sentencepiece.bpe.model",),
    "AlbertTokenizer": ("spiece.model",),
}
#: Fetched when the repository has them: a ready fast tokenizer saves converting the vocab.
OPTIONAL_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")

Progress = Callable[[str], None]


def pull(
    name: str,
    model_dir: Path,
    *,
    checkpoint_url: str | None = None,
    hub_url: str = HUB_URL,
    export_onnx: bool = True,
    int8_tolerance: float = 0.02,
    expected_sha256: str | None = None,
    say: Progress | None = None,
    client: httpx.Client | None = None,
) -> ModelFiles:
    """Fetch model ``name`` into ``model_dir/name``; returns where it is.

    ``checkpoint_url`` replaces the release URL (a mirror, or a test server); ``hub_url`` the
    Hugging Face Hub. Raises :class:`ModelUnavailable` with the failing URL on any error; a
    previous copy of the model stays in place until the new one is complete.
    """
    spec = get_model(name)
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    files = ModelFiles.at(model_dir.resolve(), name)
    staging = files.root.with_name(files.root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / HF_DIR).mkdir(parents=True)
    own_client = client is None
    http = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15))
    try:
        url = checkpoint_url or spec.url
        say(f"checkpoint {url}")
        raw = staging / "download.ckpt"
        try:
            sha = _download(http, url, raw, say)
        except _Missing:
            raise ModelUnavailable(f"{url} does not exist") from None
        if expected_sha256 and not sha.startswith(expected_sha256.lower()):
            raise ModelUnavailable(
                f"{url} has SHA-256 {sha}, not the expected {expected_sha256}; refusing it"
            )
        named = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
        name_hash = named.group(1) if named else None
        name_matches = None if name_hash is None else sha.startswith(name_hash)
        if name_matches is False:
            say(
                f"warning: {url} has SHA-256 {sha[:16]}…, its name says {name_hash}… "
                "(detoxify names releases after an earlier save; pin --sha256 to enforce one)"
            )

        import torch

        payload = torch.load(raw, map_location="cpu", weights_only=False)
        try:
            arch = payload["config"]["arch"]["args"]
            classes = list(payload["config"]["dataset"]["args"]["classes"])
        except (KeyError, TypeError) as exc:
            raise ModelUnavailable(f"{url} is not a Detoxify checkpoint (no {exc})") from exc
        base = str(arch["model_type"])
        if "/" in base and Path(base).is_absolute():
            base = spec.base  # a checkpoint pulled before: its folder name is local, not a repo
        tokenizer_name = str(arch["tokenizer_name"])
        if tokenizer_name not in TOKENIZER_FILES:
            raise ModelUnavailable(f"{url} uses tokenizer {tokenizer_name}, which we do not know")
        hub_files = _fetch_base(http, hub_url, base, tokenizer_name, staging / HF_DIR, say)
        outputs = int(arch["num_classes"])
        _fix_config(staging / HF_DIR, outputs, classes)
        _fix_tokenizer_config(staging / HF_DIR, base)

        # model_type points at the final folder (absolute), where the files will live.
        arch["model_type"] = str(files.hf)
        torch.save(payload, staging / CHECKPOINT)
        raw.unlink()
        manifest: dict[str, Any] = {
            "model": name,
            "description": spec.description,
            "checkpoint_url": url,
            "sha256": sha,
            "sha256_pinned": bool(expected_sha256),
            "name_hash_matches": name_matches,
            "base_model": base,
            "hub_url": hub_url,
            "hub_files": hub_files,
            "classes": classes,
            "num_classes": outputs,
            "trained_on": list(spec.trained_on),
            "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": _versions(),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    except httpx.HTTPError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelUnavailable(f"download failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if own_client:
            http.close()

    _swap_in(staging, files.root)
    say(f"verifying {files.root}")
    from moderation.scoring import weights

    try:
        loaded = weights.load(files)
    except ModelUnavailable:
        shutil.rmtree(files.root, ignore_errors=True)
        raise
    say(f"{name}: {len(loaded.labels)} labels ({', '.join(loaded.labels)}), weights verified")
    if export_onnx:
        from moderation.scoring import onnx_backend

        report = onnx_backend.export(loaded, files.onnx_dir, tolerance=int8_tolerance)
        say(
            f"ONNX export: fp32 max diff {report.fp32_max_diff:.4f}, int8 max diff "
            f"{report.int8_max_diff:.4f} (tolerance {int8_tolerance}): "
            + ("int8 is the CPU default" if report.int8_ok else "int8 refused, fp32 is used")
        )
    say(f"ready: workers start offline with MODERATION_MODEL_DIR={model_dir}")
    return files


class _Missing(Exception):
    """A ``file://`` mirror lacks a file (the local twin of an HTTP 404)."""


def _download(http: httpx.Client, url: str, dest: Path, say: Progress) -> str:
    """Copy ``url`` to ``dest``; returns its SHA-256. HTTP(S) streams with three attempts and
    backoff; ``file://`` URLs (a mirror on a shared disk) are copied."""
    if url.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        source = Path(unquote(urlsplit(url).path))
        if not source.is_file():
            raise _Missing(url)
        digest = hashlib.sha256()
        with source.open("rb") as src, dest.open("wb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest()
    for attempt in range(3):
        digest = hashlib.sha256()
        try:
            with http.stream("GET", url) as response:
                response.raise_for_status()
                total = int(response.headers.get("content-length") or 0)
                done, shown = 0, 0.0
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if total > 8 << 20 and done / total - shown >= 0.1:
                            shown = done / total
                            say(f"  {done / 1e6:,.0f} of {total / 1e6:,.0f} MB")
            return digest.hexdigest()
        except httpx.HTTPStatusError:
            raise
        except httpx.TransportError as exc:
            if attempt == 2:
                raise
            say(f"  {exc}; retrying")
            time.sleep(2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_base(
    http: httpx.Client, hub_url: str, repo: str, tokenizer: str, dest: Path, say: Progress
) -> dict[str, str]:
    """Download ``repo``'s config and tokenizer files; returns ``{file: sha256}``."""
    fetched: dict[str, str] = {}
    for name in ("config.json", *TOKENIZER_FILES[tokenizer], *OPTIONAL_FILES):
        url = f"{hub_url.rstrip('/')}/{repo}/resolve/main/{name}"
        try:
            fetched[name] = _download(http, url, dest / name, say)
            say(f"  {repo}/{name}")
        except (httpx.HTTPStatusError, _Missing) as exc:
            (dest / name).unlink(missing_ok=True)
            absent = isinstance(exc, _Missing) or exc.response.status_code == 404
            if absent and name in OPTIONAL_FILES:
                continue
            if isinstance(exc, _Missing):
                raise ModelUnavailable(f"{url} does not exist") from None
            raise
    return fetched


def _fix_config(hf: Path, outputs: int, classes: list[str]) -> None:
    """Declare the checkpoint's label count: detoxify builds the model from this file, and a
    base config's default of 2 labels would not fit the trained classifier."""
    path = hf / "config.json"
    config = json.loads(path.read_text())
    config["num_labels"] = outputs
    names = [*classes, *(f"output_{i}" for i in range(len(classes), outputs))]
    config["id2label"] = {str(i): n for i, n in enumerate(names)}
    config["label2id"] = {n: i for i, n in enumerate(names)}
    config["problem_type"] = "multi_label_classification"
    path.write_text(json.dumps(config, indent=2) + "\n")


def _fix_tokenizer_config(hf: Path, base: str) -> None:
    """``model_max_length`` bounds truncation: without it long comments overflow the model."""
    path = hf / "tokenizer_config.json"
    try:
        config = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        config = {}
    config["model_max_length"] = MODEL_MAX_LENGTH
    if "uncased" in base:
        config.setdefault("do_lower_case", True)
    path.write_text(json.dumps(config, indent=2) + "\n")


def _swap_in(staging: Path, final: Path) -> None:
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for package in ("detoxify", "torch", "transformers", "onnxruntime"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "absent"
    return out

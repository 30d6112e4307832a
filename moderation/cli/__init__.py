"""The ``moderation`` command.

``serve`` (API), ``worker`` (one scoring worker), ``run`` (all-in-one with an embedded Redis),
``keys create|list|revoke``, ``models pull|list|synth``, ``eval spam|toxicity``, ``stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from moderation.errors import ModerationError
from moderation.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from moderation.keys import Keys

log = logging.getLogger("moderation")


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )


# --- serve ------------------------------------------------------------------------------------


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    processes = args.processes or settings.api_processes
    uvicorn.run(
        "moderation.api.asgi:app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=processes if processes > 1 else None,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=15,
    )
    return 0


# --- worker -----------------------------------------------------------------------------------


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.scoring.factory import load_scorer
    from moderation.store.client import worker_client
    from workers.scoring import serve_worker

    scorer = load_scorer(settings)

    async def main() -> None:
        redis = worker_client(settings)
        try:
            await serve_worker(settings, scorer, redis)
        finally:
            await redis.aclose()

    _run_async(main())
    return 0


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.errors import ConfigError
    from moderation.store.client import worker_client
    from workers.scoring import default_worker_name
    from workers.webhooks import serve_webhooks

    if not settings.webhook_url:
        raise ConfigError("set MODERATION_WEBHOOK_URL (and MODERATION_WEBHOOK_SECRET) first")

    async def main() -> None:
        redis = worker_client(settings)
        try:
            await serve_webhooks(settings, redis, settings.worker_name or default_worker_name())
        finally:
            await redis.aclose()

    _run_async(main())
    return 0


def _run_async(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep a plain fallback
        asyncio.run(coro)  # type: ignore[arg-type]


# --- run --------------------------------------------------------------------------------------


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """API + worker(s) + (unless MODERATION_REDIS_URL is set) an embedded redis-server."""
    from moderation.store.embedded import EmbeddedRedis

    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(data_dir, settings.redis_server)
        url = embedded.start()
        log.info("embedded redis-server at %s (data in %s)", url, embedded.dir)
    settings = settings.with_overrides(redis_url=url)
    child_env = {**os.environ, "MODERATION_REDIS_URL": url}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _print_credentials(settings, data_dir)
        for _ in range(max(args.workers or settings.run_workers, 1)):
            workers.append(
                subprocess.Popen([sys.executable, "-m", "moderation", "worker"], env=child_env)
            )
        if settings.webhook_url:
            workers.append(
                subprocess.Popen([sys.executable, "-m", "moderation", "webhooks"], env=child_env)
            )
        os.environ["MODERATION_REDIS_URL"] = url  # the API (same process) reads it at start
        host, port = args.host or settings.host, args.port or settings.port
        print(f"moderation: API on http://{host}:{port}  (Ctrl-C stops everything)", flush=True)
        import uvicorn

        uvicorn.run(
            "moderation.api.asgi:app",
            factory=True,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level.lower(),
            access_log=False,
        )
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if embedded is not None:
            embedded.stop()
    return 0


def _print_credentials(settings: Settings, data_dir: Path) -> None:
    """First run: create a site and a moderator key and keep them in ``data_dir/credentials``
    (mode 600) so local use needs no extra step. Later runs print where they are."""
    creds = data_dir / "credentials"
    if creds.exists():
        print(f"moderation: API keys for local use are in {creds}", flush=True)
        return
    from moderation.keys import Keys
    from moderation.messages import Role
    from moderation.store.apikeys import create_key
    from moderation.store.client import api_client

    async def make() -> dict[str, str]:
        redis = api_client(settings)
        try:
            out = {}
            for role in (Role.SITE, Role.MODERATOR, Role.ADMIN):
                out[role.value] = await create_key(
                    redis, Keys(settings.key_prefix), f"local-{role.value}", role
                )
            return out
        finally:
            await redis.aclose()

    made = asyncio.run(make())
    lines = [f"{role}={secret}" for role, secret in made.items()]
    creds.write_text("\n".join(lines) + "\n")
    creds.chmod(0o600)
    print(f"moderation: created local API keys (also saved in {creds}):", flush=True)
    for line in lines:
        print("  " + line, flush=True)


# --- keys -------------------------------------------------------------------------------------


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.keys import Keys
    from moderation.messages import Role
    from moderation.store import apikeys as auth
    from moderation.store.client import api_client

    keys = Keys(settings.key_prefix)

    async def main() -> int:
        redis = api_client(settings.with_overrides(redis_timeout_s=5.0))
        try:
            if args.keys_command == "create":
                secret = await auth.create_key(redis, keys, args.name, Role(args.role))
                await _audit_key(redis, keys, settings, "key.create", args.name, args.role)
                print(secret)
                print(
                    f"created {args.role} key {args.name!r}; this is the only time it is shown",
                    file=sys.stderr,
                )
            elif args.keys_command == "revoke":
                await auth.revoke_key(redis, keys, args.name)
                await _audit_key(redis, keys, settings, "key.revoke", args.name, None)
                print(f"revoked {args.name!r}", file=sys.stderr)
            else:
                for info in await auth.list_keys(redis, keys):
                    print(f"{info.name}\t{info.role.value}\t{info.created_at}")
            return 0
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def _audit_key(
    redis: Redis, keys: Keys, settings: Settings, action: str, name: str, role: str | None
) -> None:
    """Key changes are made with shell access, not a key: the audit names the OS user."""
    import getpass
    import socket
    import time

    from moderation.store.audit import AuditEntry, AuditLog

    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        who = f"uid{os.getuid()}@{socket.gethostname()}"
    entry = AuditEntry(
        at=int(time.time() * 1000),
        actor=who,
        role="operator",
        via="cli",
        action=action,
        target_type="key",
        target=name,
        after={"role": role} if role else {"revoked": True},
    )
    await AuditLog(redis, keys, settings).append(entry)


# --- config ---------------------------------------------------------------------------------


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    """Print the effective settings (after the environment) or the documentation table."""
    from moderation.settings_doc import markdown_table

    print(markdown_table(None if args.defaults else settings))
    return 0


# --- stats ----------------------------------------------------------------------------------


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.cli.stats import run

    return run(settings, watch=args.watch, as_json=args.json)


# --- eval -------------------------------------------------------------------------------------


def cmd_eval_spam(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.evaluation import spam

    return spam.run(settings, args)


def cmd_eval_toxicity(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.evaluation import toxicity

    return toxicity.run(settings, args)


# --- models -------------------------------------------------------------------------------------


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.scoring import catalog
    from moderation.scoring.weights import ModelFiles

    model_dir: Path = args.dir or settings.model_dir
    if args.models_command == "list":
        for name, spec in catalog.MODELS.items():
            files = ModelFiles.at(model_dir, name)
            state = "pulled" if files.present() else "absent"
            sha = str(files.manifest().get("sha256", ""))[:12]
            print(f"{name:<15} {state:<7} {sha:<13} {spec.description}")
        print(f"(in {model_dir}; MODERATION_TOXICITY_MODEL={settings.toxicity_model})")
        return 0
    if args.models_command == "pull":
        from moderation.scoring.pull import pull

        pull(
            args.model,
            model_dir,
            checkpoint_url=args.checkpoint_url,
            hub_url=args.hub_url or settings.model_hub_url,
            export_onnx=not args.no_onnx,
            int8_tolerance=settings.onnx_int8_tolerance,
            expected_sha256=args.sha256,
        )
        return 0
    # synth: a random-weight stand-in, installed through the same code as a real pull.
    import tempfile

    from moderation.scoring import synthetic
    from moderation.scoring.pull import pull

    with tempfile.TemporaryDirectory(prefix="moderation-synth-") as tmp:
        made = synthetic.build(
            args.model, Path(tmp), size=args.size, vocab=args.vocab, seed=args.seed
        )
        pull(
            args.model,
            model_dir,
            checkpoint_url=made.checkpoint.as_uri(),
            hub_url=made.hub.as_uri(),
            export_onnx=not args.no_onnx,
            int8_tolerance=settings.onnx_int8_tolerance,
        )
    print(
        f"WARNING: {model_dir / args.model} holds RANDOM weights: its scores mean nothing. "
        "For tests and benchmarks only.",
        file=sys.stderr,
    )
    return 0


# --- entry point ------------------------------------------------------------------------------


def _model_names() -> tuple[str, ...]:
    from moderation.scoring.catalog import MODELS

    return tuple(MODELS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moderation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--processes", type=int, help="uvicorn worker processes")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("worker", help="run one scoring worker")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("webhooks", help="send signed webhooks for status changes")
    p.set_defaults(handler=cmd_webhooks)

    p = sub.add_parser("run", help="API + worker(s) + embedded Redis, for local use")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("config", help="print the effective settings as a table")
    p.add_argument("--defaults", action="store_true", help="the defaults, not this environment")
    p.set_defaults(handler=cmd_config)

    p = sub.add_parser("stats", help="queue and decision statistics")
    p.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        metavar="SECONDS",
        help="refresh every SECONDS (default 2)",
    )
    p.add_argument("--json", action="store_true", help="the /v1/stats document as JSON")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("keys", help="manage API keys")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("create", help="create a key; prints the secret once")
    k.add_argument("--role", required=True, choices=["site", "moderator", "admin"])
    k.add_argument("--name", required=True)
    k = ksub.add_parser("revoke", help="revoke a key by name")
    k.add_argument("--name", required=True)
    ksub.add_parser("list", help="list keys (names and roles, never secrets)")
    p.set_defaults(handler=cmd_keys)

    p = sub.add_parser("eval", help="evaluate scorers on labelled data")
    esub = p.add_subparsers(dest="eval_command", required=True)
    e = esub.add_parser("spam", help="spam scorer: zero-shot and prequential (learning) figures")
    e.add_argument(
        "--data",
        nargs="+",
        required=True,
        type=Path,
        help="YouTube Spam Collection CSVs and/or the SMS Spam Collection file (or directories)",
    )
    e.add_argument("--mode", choices=["zero-shot", "prequential", "both"], default="both")
    e.add_argument("--limit", type=int, help="replay only the first N comments (time order)")
    e.add_argument("--shuffle", type=int, metavar="SEED", help="replay in a seeded random order")
    e.add_argument(
        "--redis-url",
        help="use this Redis (default: a private redis-server, whatever MODERATION_REDIS_URL says,"
        " so an evaluation never touches production data)",
    )
    e.add_argument(
        "--out", type=Path, default=Path("var/eval"), help="folder for the learning-curve PNG"
    )
    e.add_argument("--show-errors", type=int, default=0, metavar="N", help="list N mistakes")
    e.add_argument(
        "--feedback",
        choices=["all", "reviewed"],
        default="all",
        help="prequential labels: every comment, or only what moderators would review",
    )
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(handler=cmd_eval_spam)

    e = esub.add_parser("toxicity", help="toxicity scorer: ROC AUC, precision/recall at the policy")
    e.add_argument("--data", required=True, type=Path, help="a CSV file with a header")
    e.add_argument("--text-column", required=True, help="the column holding the comment text")
    e.add_argument("--label-column", required=True, help="the column holding the label")
    e.add_argument(
        "--positive",
        action="append",
        default=[],
        metavar="VALUES",
        help="label values meaning toxic, comma-separated (default: 1,true,yes,toxic); "
        "for Davidson's class column: --positive 0,1 (hate, offensive)",
    )
    e.add_argument("--limit", type=int, help="only the first N rows")
    e.add_argument("--batch-size", type=int, default=32, help="comments per scoring batch")
    e.add_argument("--out", type=Path, default=Path("var/eval"), help="folder for the PNG plots")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(handler=cmd_eval_toxicity)

    p = sub.add_parser("models", help="Detoxify weights: pull them once, then run offline")
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="the known models and which are pulled")
    m.add_argument("--dir", type=Path, help="model folder (default MODERATION_MODEL_DIR)")
    m = msub.add_parser("pull", help="download a model's checkpoint, config and tokenizer")
    m.add_argument("model", choices=list(_model_names()))
    m.add_argument("--dir", type=Path, help="model folder (default MODERATION_MODEL_DIR)")
    m.add_argument("--checkpoint-url", help="fetch the checkpoint from here (a mirror)")
    m.add_argument("--sha256", help="refuse a checkpoint whose SHA-256 does not start with this")
    m.add_argument(
        "--hub-url", help="Hugging Face Hub or mirror (default MODERATION_MODEL_HUB_URL)"
    )
    m.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (done at start)")
    m = msub.add_parser(
        "synth", help="install RANDOM weights of a model's shape (tests and benchmarks only)"
    )
    m.add_argument("model", choices=list(_model_names()))
    m.add_argument("--dir", type=Path, help="model folder (default MODERATION_MODEL_DIR)")
    m.add_argument("--size", choices=["tiny", "base"], default="tiny")
    m.add_argument("--vocab", type=Path, help="a WordPiece vocab.txt for BERT (realistic tokens)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    p.set_defaults(handler=cmd_models)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        _setup_logging(settings)
        return int(args.handler(settings, args))
    except ModerationError as exc:
        print(f"moderation: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

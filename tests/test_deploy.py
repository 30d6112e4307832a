"""The deployment files and the README contract stay true: parsed, not just present."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from moderation.cli import build_parser
from moderation.settings import Settings
from moderation.settings_doc import BEGIN, END, markdown_table
from tests.conftest import METRICS_AUTH

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_redis_is_durable_and_never_evicts() -> None:
    redis = _compose()["services"]["redis"]
    command = " ".join(str(part) for part in redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync always" in command  # every acknowledged write on disk
    assert "--maxmemory-policy noeviction" in command
    assert redis["healthcheck"]["test"][-1] == "ping"
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_compose_services_are_health_checked_and_parse_as_our_cli() -> None:
    services = _compose()["services"]
    parser = build_parser()
    for name in ("api", "worker"):
        service = services[name]
        assert service["healthcheck"]["test"], name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["environment"]["MODERATION_REDIS_URL"] == "redis://redis:6379/0"
        argv = [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(a)) for a in service["command"]]
        assert argv[0] == "moderation"
        parser.parse_args(argv[1:])  # raises SystemExit if the command does not exist
    assert services["worker"]["stop_signal"] == "SIGTERM"
    assert "replicas" in services["worker"]["deploy"]


def test_dockerfile_installs_torch_first_and_runs_our_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [
        line.strip()
        for line in text.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    runs = [line for line in lines if line.startswith("RUN ")]
    torch_at = next(i for i, line in enumerate(runs) if "torch==" in line)
    project_at = next(i for i, line in enumerate(runs) if 'pip install ".[' in line)
    assert torch_at < project_at
    cmd = next(line for line in lines if line.startswith("CMD "))
    argv = yaml.safe_load(cmd[len("CMD ") :])
    assert argv[0] == "moderation"
    build_parser().parse_args(argv[1:])
    for line in runs:
        if line.startswith("RUN moderation "):  # build-time commands of ours must exist
            words = shlex.split(line[len("RUN ") :].replace("${", "").replace("}", ""))
            build_parser().parse_args(words[1:])


def test_the_image_carries_the_weights_and_runs_offline() -> None:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    # The pull runs at build time, after the project is installed, with a real CLI command.
    pull = re.search(r'moderation models pull "\$\{TOXICITY_MODEL\}" --dir /models', text)
    assert pull and text.index('pip install ".[detoxify]"') < pull.start()
    build_parser().parse_args(["models", "pull", "original", "--dir", "/models"])
    for setting in ("MODERATION_MODEL_DIR=/models", "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"):
        assert setting in text
    services = _compose()["services"]
    gpu = services["gpu-worker"]
    assert gpu["profiles"] == ["gpu"] and gpu["environment"]["MODERATION_DEVICE"] == "cuda"
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "cu" in gpu["build"]["args"]["TORCH_INDEX"]
    build_parser().parse_args(gpu["command"][1:])


def test_readme_gives_the_two_setup_commands_and_they_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == markdown_table(), "run `make docs` to regenerate the README table"


METRIC = re.compile(r"\bmoderation_[a-z_]+\b")


def _referenced_metrics() -> set[str]:
    text = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    dashboard = json.loads(
        (ROOT / "deploy" / "grafana" / "dashboards" / "moderation.json").read_text()
    )
    for panel in dashboard["panels"]:
        text += "\n" + "\n".join(t["expr"] for t in panel.get("targets", []))
    return set(METRIC.findall(text))


async def test_alerts_and_dashboard_use_metrics_we_export(api: Any, settings: Any) -> None:
    from tests.conftest import running_worker

    async with running_worker(settings):
        await api.post_comment(
            {"article_id": "a", "text": "hi", "author": {"id": "u", "name": "n"}}, wait=5
        )
    exported: set[str] = set()
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(
        (await api.client.get("/metrics", headers=METRICS_AUTH)).text
    ):
        exported.add(family.name)
        if family.type == "counter":
            exported.add(family.name + "_total")
        exported.update(s.name for s in family.samples)
    # Recorded metrics appear once observed; the declarations are the source of truth.
    from moderation.ops.metrics import RECORDED

    for d in RECORDED:
        exported.add(d.name + ("_total" if d.kind == "counter" else ""))
        if d.kind == "histogram":
            exported.update({d.name + "_bucket", d.name + "_sum", d.name + "_count"})
    missing = _referenced_metrics() - exported
    assert not missing, f"referenced but not exported: {sorted(missing)}"


def test_monitoring_profile_mounts_the_deploy_files() -> None:
    services = _compose()["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    # Prometheus scrapes the API's metrics listener, which compose opens to its network only.
    api_env = services["api"]["environment"]
    port = api_env["MODERATION_METRICS_PORT"]
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == [f"api:{port}"]
    assert api_env["MODERATION_METRICS_HOST"] == "0.0.0.0"
    assert all(port not in str(p) for p in services["api"]["ports"])
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {
        "ModerationQueueStuck",
        "ModerationNoWorkers",
        "ModerationHighHoldRate",
        "ModerationWebhookFailures",
        "ModerationArchiveBacklog",
    } <= names


# --- The record in compose: PostgreSQL, the migration, the archiver ---------------------------

_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _interpolate(value: object) -> str:
    """A compose value with its ``${VAR:-default}`` references resolved as with an empty
    ``.env`` (the defaults the file ships)."""
    return _VAR.sub(lambda m: m.group(2) or "", str(value)).replace("$$", "$")


def _dockerfile_env() -> dict[str, str]:
    """The image's environment, its build arguments at their defaults."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ARG "):
            name, _, value = line[len("ARG ") :].strip().partition("=")
            args[name] = value
        if line.startswith("ENV "):
            for word in shlex.split(line[len("ENV ") :]):
                name, _, value = word.partition("=")
                env[name] = _VAR.sub(lambda m: args.get(m.group(1), ""), value)
    return env


def _our_services() -> dict[str, dict[str, Any]]:
    """The services that run our image (and so our settings and our command line)."""
    return {
        name: service
        for name, service in _compose()["services"].items()
        if str(service.get("image", "")).startswith("moderation:")
    }


def test_compose_runs_postgresql_with_a_volume_and_a_health_check() -> None:
    compose = _compose()
    pg = compose["services"]["postgres"]
    assert str(pg["image"]).startswith("postgres:")
    [volume] = pg["volumes"]
    name, target = volume.split(":")
    assert name in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert "ports" not in pg  # reachable on the compose network only
    check = pg["healthcheck"]["test"]
    assert check[:2] == ["CMD", "pg_isready"]
    env = {k: _interpolate(v) for k, v in pg["environment"].items()}
    assert check[check.index("--username") + 1] == env["POSTGRES_USER"]
    assert check[check.index("--dbname") + 1] == env["POSTGRES_DB"]

    # Every service of ours names that database, with the server's own user and password.
    from sqlalchemy.engine import make_url

    from moderation.record import record_url

    for service_name, service in _our_services().items():
        raw = _interpolate(service["environment"]["MODERATION_DATABASE_URL"])
        url = make_url(raw)
        assert (url.host, url.port) == ("postgres", 5432), service_name
        assert url.username == env["POSTGRES_USER"] and url.database == env["POSTGRES_DB"]
        assert url.password == env["POSTGRES_PASSWORD"]
        settings = Settings.from_env({"MODERATION_DATABASE_URL": raw})
        assert record_url(settings).startswith("postgresql+asyncpg://")


def test_compose_environments_are_real_settings_and_commands_real_commands() -> None:
    """Each service of ours starts: its environment (over the image's) is read by
    ``Settings.from_env``, which refuses unknown ``MODERATION_*`` names and bad values, and its
    command parses as our command line."""
    services = _compose()["services"]
    image_env = _dockerfile_env()
    Settings.from_env(image_env)
    assert _our_services().keys() >= {"api", "worker", "archiver", "migrate", "webhooks"}
    for name, service in _our_services().items():
        env = image_env | {k: _interpolate(v) for k, v in service["environment"].items()}
        Settings.from_env(env)  # raises ConfigError naming the unknown or invalid setting
        argv = [_interpolate(a) for a in service["command"]]
        assert argv[0] == "moderation", name
        build_parser().parse_args(argv[1:])
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)


def test_compose_archiver_and_migration_wait_for_their_dependencies() -> None:
    services = _compose()["services"]
    migrate, archiver, api = services["migrate"], services["archiver"], services["api"]
    assert migrate["command"] == ["moderation", "db", "upgrade"]
    assert migrate["restart"] == "no"  # a one-shot: it exits once the schema is current
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert archiver["command"] == ["moderation", "archiver"]
    assert archiver["stop_signal"] == "SIGTERM"  # it acknowledges the batch in hand first
    for service in (archiver, api):
        assert service["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    # The archiver's health check reads the file it touches: the image's heartbeat file.
    beat = _dockerfile_env()["MODERATION_HEARTBEAT_FILE"]
    assert f"getmtime('{beat}')" in archiver["healthcheck"]["test"][-1]
    assert f"getmtime('{beat}')" in services["worker"]["healthcheck"]["test"][-1]


def test_readme_storage_procedures_name_real_commands() -> None:
    """The commands of "Running PostgreSQL" and "Backup and restore" exist as written."""
    readme = (ROOT / "README.md").read_text()
    text = readme.split("### Running PostgreSQL", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#")[0].strip()
        for block in text.split("```sh")[1:]
        for line in block.split("```", 1)[0].splitlines()
        if line.strip().startswith("moderation ")
    ]
    commands += re.findall(r"`(moderation [^`]+)`", text)
    assert {"moderation db upgrade", "moderation archiver"} <= set(commands)
    assert "moderation db dump backup/record.dump" in commands
    for command in commands:
        build_parser().parse_args(shlex.split(command)[1:])

"""The deployment files and the README contract stay true: parsed, not just present."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from moderation.cli import build_parser
from moderation.settings_doc import BEGIN, END, markdown_table

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_redis_is_durable_and_never_evicts() -> None:
    redis = _compose()["services"]["redis"]
    command = " ".join(str(part) for part in redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
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

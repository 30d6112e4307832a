"""Describe the settings: names, defaults and the ``#:`` comment above each field.

Feeds ``moderation config`` (the effective configuration of this environment) and the README's
configuration table, which a test keeps in sync with :class:`moderation.settings.Settings`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

from moderation.settings import PREFIX, Settings

_FIELD = re.compile(r"^\s{4}(\w+):")


def field_docs() -> dict[str, str]:
    """Field name -> its documentation comment (the ``#:`` lines right above it)."""
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(Settings).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD.match(line)
        if match:
            docs[match.group(1)] = " ".join(pending)
        if not stripped.startswith("#"):
            pending = []
    return docs


def render_value(value: object) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return "" if value is None else str(value)


def markdown_table(settings: Settings | None = None) -> str:
    """The documentation table (``settings`` None: Variable, Default, Meaning), or the values
    in force (Variable, Value, Source, Default, Meaning)."""
    defaults = Settings()
    docs = field_docs()
    if settings is None:
        rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    else:
        rows = ["| Variable | Value | Source | Default | Meaning |", "|---|---|---|---|---|"]
    for f in fields(Settings):
        name = f"`{PREFIX}{f.name.upper()}`"
        default = render_value(getattr(defaults, f.name)) or "(unset)"
        doc = docs.get(f.name, "").replace("``", "`").replace("|", "\\|")
        if settings is None:
            rows.append(f"| {name} | `{default}` | {doc} |")
            continue
        value = render_value(getattr(settings, f.name)) or "(unset)"
        source = "default" if value == default else "environment"
        rows.append(f"| {name} | `{value}` | {source} | `{default}` | {doc} |")
    return "\n".join(rows)


BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"


def update_readme(path: Path) -> bool:
    """Rewrite the table between the markers in ``path``; returns whether it changed."""
    text = path.read_text("utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + markdown_table() + "\n" + text[end:]
    if new != text:
        path.write_text(new, "utf-8")
    return new != text


if __name__ == "__main__":  # python -m moderation.settings_doc README.md
    import sys

    changed = update_readme(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
    print("README settings table " + ("updated" if changed else "already current"))

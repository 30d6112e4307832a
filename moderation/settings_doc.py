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
    current = settings or Settings()
    docs = field_docs()
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in fields(Settings):
        default = render_value(getattr(Settings(), f.name)) or "(unset)"
        if settings is not None:
            default = render_value(getattr(current, f.name)) or "(unset)"
        doc = docs.get(f.name, "").replace("``", "`").replace("|", "\\|")
        rows.append(f"| `{PREFIX}{f.name.upper()}` | `{default}` | {doc} |")
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

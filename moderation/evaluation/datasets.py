"""Labelled spam data sets for evaluation, read into one shape: :class:`LabelledComment`.

Two formats are recognised by their content, whatever the file is called:

* **YouTube Spam Collection** CSVs (header ``COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS``; CLASS 1 =
  spam). ``CONTENT`` is HTML as YouTube exported it: it is turned into the text a reader saw
  (``<br />`` → newline, tags dropped keeping their visible text, entities decoded), which is
  what a site would post to us. Each file is one video, used as the article. Rows without a
  ``DATE`` (245 in the Eminem file) take the midpoint of the nearest dated rows before and
  after them *in file order* (the files are chronological), so they stay where they were
  posted; nothing else about them is used.
* **SMS Spam Collection** (``<ham|spam>\\t<message>`` per line, no header). SMS messages have no
  date and no sender: they are replayed **in file order** (the only order the data gives; we add
  no order of our own), one message a minute from 2012-01-01 UTC, each from its own sender (so
  author history and velocity are neutral) under one article.

A directory stands for every data file in it (``README*`` and ``*.md`` are skipped).
"""

from __future__ import annotations

import csv
import html
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from moderation.errors import ConfigError

SMS_EPOCH_MS = int(datetime(2012, 1, 1, tzinfo=UTC).timestamp() * 1000)
_YOUTUBE_COLUMNS = {"AUTHOR", "DATE", "CONTENT", "CLASS"}
_BR = re.compile(r"<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class LabelledComment:
    text: str
    is_spam: bool
    author: str
    article: str
    created_ms: int
    #: ``<file name>:<row>`` (1-based data row), to trace a figure back to the data.
    source: str


def html_to_text(value: str) -> str:
    """The text a reader saw for an HTML fragment as YouTube exported it."""
    return html.unescape(_TAG.sub("", _BR.sub("\n", value))).strip()


def load(paths: Sequence[Path], *, shuffle_seed: int | None = None) -> list[LabelledComment]:
    """Every labelled comment in ``paths``, in replay order (creation time, then file order).

    ``shuffle_seed`` replays in a seeded random order instead (to measure order sensitivity);
    timestamps are then reassigned in that order so time-based signals stay consistent.
    """
    items: list[LabelledComment] = []
    for path in _files(paths):
        items.extend(_read(path))
    if not items:
        raise ConfigError("no labelled comments found in " + ", ".join(str(p) for p in paths))
    items.sort(key=lambda c: c.created_ms)  # stable: ties keep file order
    if shuffle_seed is not None:
        times = [c.created_ms for c in items]
        random.Random(shuffle_seed).shuffle(items)
        items = [_with_time(c, t) for c, t in zip(items, times, strict=True)]
    return items


def _with_time(c: LabelledComment, created_ms: int) -> LabelledComment:
    return LabelledComment(c.text, c.is_spam, c.author, c.article, created_ms, c.source)


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                p
                for p in sorted(path.iterdir())
                if p.is_file() and not p.name.startswith("README") and p.suffix != ".md"
            )
        elif path.is_file():
            out.append(path)
        else:
            raise ConfigError(f"no such data file or directory: {path}")
    return out


def _read(path: Path) -> list[LabelledComment]:
    with path.open(encoding="utf-8", newline="") as f:
        first = f.readline()
    header = {h.strip() for h in first.split(",")}
    if header >= _YOUTUBE_COLUMNS:
        return _read_youtube(path)
    if first.split("\t", 1)[0] in ("ham", "spam"):
        return _read_sms(path)
    raise ConfigError(
        f"{path}: neither a YouTube Spam Collection CSV (AUTHOR, DATE, CONTENT, CLASS) nor an "
        "SMS Spam Collection file (label<TAB>message)"
    )


def _read_youtube(path: Path) -> list[LabelledComment]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    times: list[float | None] = [_parse_date(r.get("DATE") or "") for r in rows]
    filled = _fill_gaps(times)
    out = []
    for n, (row, t) in enumerate(zip(rows, filled, strict=True), start=1):
        label = (row.get("CLASS") or "").strip()
        if label not in ("0", "1"):
            raise ConfigError(f"{path}:{n}: CLASS must be 0 or 1, not {label!r}")
        out.append(
            LabelledComment(
                text=html_to_text(row.get("CONTENT") or ""),
                is_spam=label == "1",
                author=(row.get("AUTHOR") or "").strip() or f"anonymous-{n}",
                article=path.stem,
                created_ms=int(t * 1000),
                source=f"{path.name}:{n}",
            )
        )
    return out


def _parse_date(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _fill_gaps(times: list[float | None]) -> list[float]:
    """Give undated rows the midpoint of the nearest dated rows around them in file order."""
    known = [(i, t) for i, t in enumerate(times) if t is not None]
    if not known:
        raise ConfigError("a YouTube file without a single DATE cannot be replayed in time")
    out: list[float] = []
    k = 0
    for i, t in enumerate(times):
        if t is not None:
            out.append(t)
            continue
        while k < len(known) and known[k][0] < i:
            k += 1
        before = known[k - 1][1] if k > 0 else None
        after = known[k][1] if k < len(known) else None
        around = [v for v in (before, after) if v is not None]
        out.append(sum(around) / len(around))
    return out


def _read_sms(path: Path) -> list[LabelledComment]:
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in ("ham", "spam"):
                raise ConfigError(f"{path}:{n}: expected 'ham' or 'spam', a tab, then the text")
            out.append(
                LabelledComment(
                    text=text,
                    is_spam=label == "spam",
                    author=f"sms-sender-{n}",
                    article="sms",
                    created_ms=SMS_EPOCH_MS + 60_000 * (n - 1),
                    source=f"{path.name}:{n}",
                )
            )
    return out

"""Split a comment's verbatim text into plain and highlighted segments for display.

Links are found in the original text. Word-list matches were found on the *normalised* text
(``moderation.store.wordlists``), so offsets cannot be mapped back directly; instead each
whitespace-separated chunk of the original is normalised on its own and highlighted when its
words contain a matched entry (or, for a multi-word entry, when a run of chunks does). Evasions
spread over many chunks (``f u c k``) are found through runs of one- or two-character chunks.

Only segments are produced here; the template escapes every one of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from moderation.store.wordlists import words_of

#: Same shape as the spam scorer's link signal.
_LINK = re.compile(r"(?:https?://|www\.)\S+|javascript:\S*", re.IGNORECASE)
_CHUNK = re.compile(r"\S+")
#: Punctuation trimmed from a highlighted chunk's ends (not leet characters such as @ or $).
_EDGE = re.compile(r"[!?.,;:\"'()\[\]{}<>«»“”‘’…]*(.*?)[!?.,;:\"'()\[\]{}<>«»“”‘’…]*$", re.S)
#: Longest run of short chunks tried as one spelled-out word.
_MAX_SPELLED = 24


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    #: ``None`` (plain), ``link``, ``banned`` or ``suspect``.
    kind: str | None = None
    #: What matched (the word-list entry or the link), for the tooltip.
    term: str = ""


def segments(text: str, matched: Mapping[str, Sequence[str]] | None = None) -> list[Segment]:
    spans: list[tuple[int, int, str, str]] = []
    for m in _LINK.finditer(text):
        spans.append((m.start(), m.end(), "link", m.group(0)))
    for kind, entries in (matched or {}).items():
        spans.extend(_word_spans(text, kind, entries))
    if not spans:
        return [Segment(text)]
    # Earlier first; at equal starts the longer span wins; overlaps are dropped.
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out: list[Segment] = []
    pos = 0
    for start, end, kind, term in spans:
        if start < pos:
            continue
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(text[start:end], kind, term))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out


def to_html(parts: list[Segment]) -> Markup:
    """Segments as HTML: every piece of text escaped, highlights as ``<mark>`` elements.

    Built here rather than in a template loop because a queue page renders hundreds of these.
    """
    out: list[str] = []
    for seg in parts:
        if seg.kind is None:
            out.append(escape(seg.text))
        else:
            out.append(
                f'<mark class="hl hl-{escape(seg.kind)}" title="{escape(seg.kind)}: '
                f'{escape(seg.term)}">{escape(seg.text)}</mark>'
            )
    return Markup("".join(out))


def _word_spans(text: str, kind: str, entries: Sequence[str]) -> list[tuple[int, int, str, str]]:
    wanted = {tuple(e.split(" ")): e for e in entries if e}
    if not wanted:
        return []
    longest = max(len(t) for t in wanted)
    chunks = [(m.start(), m.end(), _chunk_words(m.group(0))) for m in _CHUNK.finditer(text)]
    # The flat word sequence, each word remembering the chunk it came from.
    flat: list[tuple[str, int]] = [(w, ci) for ci, (_, _, ws) in enumerate(chunks) for w in ws]
    spans: list[tuple[int, int, str, str]] = []
    singles = {t[0]: e for t, e in wanted.items() if len(t) == 1}
    for i, (word, ci) in enumerate(flat):
        entry = singles.get(word)
        if entry is not None:
            spans.append(_trimmed(text, chunks[ci][0], chunks[ci][1], kind, entry))
        for n in range(2, min(longest, len(flat) - i) + 1):
            entry = wanted.get(tuple(w for w, _ in flat[i : i + n]))
            if entry is not None:
                first, last = ci, flat[i + n - 1][1]
                spans.append(_trimmed(text, chunks[first][0], chunks[last][1], kind, entry))
    spans.extend(_spelled_spans(text, chunks, kind, wanted))
    return spans


@functools.lru_cache(maxsize=65_536)
def _chunk_words(chunk: str) -> tuple[str, ...]:
    # Chunks repeat a lot across comments ("the", "you", names): normalise each once.
    return tuple(words_of(chunk))


def _spelled_spans(
    text: str,
    chunks: list[tuple[int, int, tuple[str, ...]]],
    kind: str,
    wanted: Mapping[tuple[str, ...], str],
) -> list[tuple[int, int, str, str]]:
    """Entries spelled out over runs of one- or two-character chunks (``f u c k``)."""
    spans: list[tuple[int, int, str, str]] = []
    joined = ["".join(t) for t in wanted]
    # Each letter normalisation yields comes from at least one character of the input (NFKC
    # ligatures aside), so a run with fewer non-space characters than the shortest entry has
    # letters cannot spell one; most runs ("is a", "I am") end there, unnormalised.
    shortest = min(len(j) for j in joined)
    i = 0
    while i < len(chunks):
        j = i
        while j < len(chunks) and chunks[j][1] - chunks[j][0] <= 2 and j - i < _MAX_SPELLED:
            j += 1
        run = text[chunks[i][0] : chunks[j - 1][1]] if j - i >= 2 else ""
        # Only a run whose letters contain an entry's letters can spell it: one check per run
        # before trying its sub-runs.
        if (
            run
            and len(run) - run.count(" ") >= shortest
            and any(letters in "".join(words_of(run)) for letters in joined)
        ):
            for a in range(i, j):
                for b in range(a + 2, j + 1):
                    words = tuple(words_of(text[chunks[a][0] : chunks[b - 1][1]]))
                    entry = wanted.get(words)
                    if entry is not None:
                        spans.append(_trimmed(text, chunks[a][0], chunks[b - 1][1], kind, entry))
        i = max(j, i + 1)
    return spans


def _trimmed(text: str, start: int, end: int, kind: str, term: str) -> tuple[int, int, str, str]:
    """Drop punctuation around a highlighted chunk ("idiot," highlights "idiot")."""
    m = _EDGE.match(text, start, end)
    if m and m.group(1):
        return (m.start(1), m.end(1), kind, term)
    return (start, end, kind, term)

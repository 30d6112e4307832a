"""The compact encoding of a decision, as the comment hash and the events stream hold it.

A decision's JSON spells every field name, every threshold, the model's facts, every spam
signal's name and the statement's ground and redress text: about 1.7 KB, almost all of it the
same for every comment decided under one policy and one model. Here a decision is split in two:

- **facts**, what every decision under one policy, model and ground shares: the thresholds,
  the spam threshold, the model, the *names* of the label scores and of the spam signals in
  their order, and the statement's restriction, automation, source, ground and redress.
  Facts are stored once, content-addressed (``Keys.decision_facts``: field = an 8-byte
  BLAKE2b digest of their encoding, value = the encoding). A digest names one immutable
  value, so a decision stays reproducible whatever the policy becomes later;
- the **blob**, what is this decision's own, as a msgpack array without field names (format
  :data:`FORMAT`): the facts' digest, status (a small integer), actor (0 for the automatic
  one, the commonest), time, reasons, the score values and spam-signal values in the facts'
  order, rules, note, and the statement's facts and codes (``None`` when they are the reasons'
  messages and codes, as they usually are). A reason's message is left out when the format's
  own wording of its score and threshold gives it back exactly (``"spam 0.86 ≥ threshold
  0.50"``: every reason the policy scores), and its score and threshold are packed like the
  signals below: an automatic hold's reason takes 14 bytes instead of 54.

Numbers in the scores and spam signals are packed smaller than msgpack's 9-byte float64 where
that loses nothing (:func:`pack_values`): a float that is exactly ``k / 10,000`` (signals are
rounded to 3 or 4 places, and 0.0 is the commonest value) is stored as the integer ``k`` (1 to 5
bytes); one that a float32 holds exactly (a model's output) as its 32 bits; a dict of named
values (the spam model's contributions) as the names' positions in the facts' ``names`` table
and its values packed. Bitmaps say which positions hold which, so decoding is msgspec's own
integer parsing plus one step per packed value, and gives back the identical floats and dicts.

:func:`decode` gives back a :class:`~moderation.messages.Decision` equal to the one encoded
(field for field, dicts in the same order), so every explanation shown is the one made.
Facts are cached per process (they never change); :func:`load_facts` reads the missing ones.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable
from typing import Any

import msgspec
from msgspec.structs import astuple
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import (
    Automation,
    Decision,
    Ground,
    ModelInfo,
    Reason,
    Restriction,
    Source,
    SpamResult,
    Statement,
    Status,
    json_encoder,
)

#: The blob's format version (its first element): a reader refuses a format it does not know.
FORMAT = 4
#: Facts kept in this process' cache before it is cleared (a handful exist in practice).
_CACHE_MAX = 4096


class Facts(msgspec.Struct, array_like=True, omit_defaults=True):
    """What decisions under one policy, model and ground share (immutable, by digest)."""

    labels: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    thresholds: dict[str, float] = msgspec.field(default_factory=dict)
    spam_threshold: float | None = None
    model: ModelInfo | None = None
    #: The statement's shared part; ``restriction`` ``None``: the decision has no statement.
    restriction: Restriction | None = None
    automated_detection: bool = False
    automated_decision: Automation = Automation.NOT
    source: Source = Source.OWN_INITIATIVE
    ground: Ground | None = None
    redress: str = ""
    #: Names of the keys of the dicts among the spam signals (ext type 3 holds positions).
    names: tuple[str, ...] = ()


_SCALE = 10_000.0
_f32 = struct.Struct("<f")
_I32 = struct.Struct("<I")
#: How each float seen lately packs, ``(1, k)`` scaled, ``(2, bits)`` float32 or ``None``:
#: the same few hundred values (rounded signals, the usual contributions) come back in every
#: decision, so most floats cost a dict lookup.
_memo: dict[float, tuple[int, int] | None] = {}
_ZERO = (1, 0)
_MEMO_MAX = 65_536
_UNSEEN: Any = object()


def _float_form(v: float) -> tuple[int, int] | None:
    form: tuple[int, int] | None = None
    if -214_748.0 < v < 214_748.0 and (k := round(v * _SCALE)) / _SCALE == v:
        form = (1, k)
    elif math.isfinite(v) and abs(v) < 3.4e38:
        raw = _f32.pack(v)
        if _f32.unpack(raw)[0] == v:
            form = (2, _I32.unpack(raw)[0])
    if v == v:  # a NaN never matches a key again: keep it out
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[v] = form
    return form


class Packed(msgspec.Struct, array_like=True):
    """A list of values with its floats and dicts packed (:func:`pack_values`): ``scaled``,
    ``f32`` and ``named`` are little-endian bitmaps of the positions holding a scaled float,
    a float32's bits and a named dict ``[name positions, Packed values]``."""

    values: list[Any]
    scaled: bytes = b""
    f32: bytes = b""
    named: bytes = b""


#: Per array-like struct class, each field's default (``_REQUIRED``: none).
_REQUIRED: Any = object()
_defaults: dict[type, tuple[Any, ...]] = {}


def wire(struct: msgspec.Struct) -> list[Any]:
    """An array-like struct as the list msgpack writes, without its trailing default values:
    msgspec writes every field, and its decoder fills missing trailing fields back in with
    their defaults (a ``None``, an empty list or bitmap: a byte or two each)."""
    cls = type(struct)
    defaults = _defaults.get(cls)
    if defaults is None:
        defaults = _defaults[cls] = tuple(
            f.default_factory()
            if f.default_factory is not msgspec.NODEFAULT
            else (_REQUIRED if f.default is msgspec.NODEFAULT else f.default)
            for f in msgspec.structs.fields(cls)
        )
    values = list(astuple(struct))
    n = len(values)
    while n and (d := defaults[n - 1]) is not _REQUIRED:
        v = values[n - 1]
        if type(v) is not type(d) or v != d:
            break
        n -= 1
    del values[n:]
    return values


def _bits(mask: int) -> bytes:
    return mask.to_bytes((mask.bit_length() + 7) // 8, "little") if mask else b""


def pack_values(values: Iterable[Any], names: dict[str, int]) -> Packed:
    """``values`` packed without loss: a float that is exactly ``k / 10,000`` becomes ``k``
    (-0.0 excepted, for its sign); one a float32 holds exactly, its 32 bits; a dict with string
    keys, the keys' positions in ``names`` (a key not in it is added at the end) and its values
    packed. Nested lists are kept as they are."""
    out: list[Any] = []
    append = out.append
    memo_get = _memo.get
    scaled = f32 = named = 0
    bit = 1
    for v in values:
        t = type(v)
        if t is float:
            if v:
                form = memo_get(v, _UNSEEN)
                if form is _UNSEEN:
                    form = _float_form(v)
            else:
                # 0.0 is k = 0 scaled; -0.0 (equal to it, the same dict key) stays a float
                # for its sign.
                form = _ZERO if math.copysign(1.0, v) > 0 else None
            if form is None:
                append(v)
            elif form[0] == 1:
                append(form[1])
                scaled |= bit
            else:
                append(form[1])
                f32 |= bit
        elif t is dict and all(type(k) is str for k in v):
            try:
                positions = [names[key] for key in v]
            except KeyError:
                positions = [names.setdefault(key, len(names)) for key in v]
            append([positions, wire(pack_values(v.values(), names))])
            named |= bit
        else:
            append(v)
        bit <<= 1
    return Packed(out, _bits(scaled), _bits(f32), _bits(named))


_named_decoder = msgspec.msgpack.Decoder(tuple[list[int], Packed])


def unpack_values(p: Packed, names: tuple[str, ...]) -> list[Any]:
    """The list :func:`pack_values` packed (raises ``msgspec.DecodeError`` when it does not
    match the facts' name table)."""
    out = p.values
    scaled = int.from_bytes(p.scaled, "little")
    f32 = int.from_bytes(p.f32, "little")
    named = int.from_bytes(p.named, "little")
    if not (scaled or f32 or named):
        return out
    try:
        if scaled:
            out = [x / _SCALE if scaled >> i & 1 else x for i, x in enumerate(out)]
        else:
            out = list(out)
        while f32:
            low = f32 & -f32
            i = low.bit_length() - 1
            out[i] = _f32.unpack(_I32.pack(out[i]))[0]
            f32 ^= low
        while named:
            low = named & -named
            i = low.bit_length() - 1
            positions, inner = msgspec.convert(out[i], tuple[list[int], Packed])
            out[i] = dict(zip((names[j] for j in positions), unpack_values(inner, names),
                              strict=True))  # fmt: skip
            named ^= low
    except (IndexError, TypeError, ValueError, struct.error, msgspec.ValidationError) as exc:
        raise msgspec.DecodeError(f"packed values do not match the facts: {exc}") from exc
    return out


class _Reason(msgspec.Struct, array_like=True, omit_defaults=True):
    code: str
    label: str | None = None
    #: A float that is exactly ``k / 10,000`` is stored as ``k`` (its bit in ``scaled`` set).
    score: float | int | None = None
    threshold: float | int | None = None
    #: Bit 0: ``score`` is scaled; bit 1: ``threshold`` is.
    scaled: int = 0
    words: list[str] | None = None
    #: ``None``: the message is the format's wording of the score (:func:`_worded`), as it is
    #: for every reason the policy gives a score; any other message is stored as made.
    message: str | None = None


#: How format 3 words a score reason whose message it does not store, by code. Fixed with the
#: format: the policy's wording may change, and then its messages are stored whole (a message
#: is left out only when this wording gives it back exactly).
_WORDING = {
    "toxicity": "{label} {score:.2f} ≥ threshold {threshold:.2f}",
    "spam": "spam {score:.2f} ≥ threshold {threshold:.2f}",
    "spam_blatant": "spam {score:.2f} ≥ reject level {threshold:.2f}",
}
#: Format 3's status codes: a status is stored as its position here (append only).
_STATUSES = (Status.PENDING, Status.APPROVED, Status.HELD, Status.REJECTED, Status.DELETED)
_STATUS_CODE = {status: code for code, status in enumerate(_STATUSES)}
#: The automatic actor's name, and what a blob holds for it.
_AUTO_ACTOR, _AUTO = "auto", 0


def _worded(code: str, label: str | None, score: Any, threshold: Any) -> str | None:
    wording = _WORDING.get(code)
    if wording is None or score is None or threshold is None:
        return None
    try:
        return wording.format(label=label, score=score, threshold=threshold)
    except (TypeError, ValueError):
        return None


def _scale(value: Any) -> tuple[Any, bool]:
    """``(k, True)`` for a float that is exactly ``k / 10,000``; else ``(value, False)``."""
    if type(value) is float and (value or math.copysign(1.0, value) > 0):
        form = _float_form(value)
        if form is not None and form[0] == 1:
            return form[1], True
    return value, False


def _pack_reason(r: Reason) -> _Reason:
    score, score_scaled = _scale(r.score)
    threshold, threshold_scaled = _scale(r.threshold)
    worded = _worded(r.code, r.label, r.score, r.threshold)
    return _Reason(
        r.code,
        r.label,
        score,
        threshold,
        score_scaled | threshold_scaled << 1,
        r.words,
        None if worded == r.message else r.message,
    )


def _unscale(value: Any, scaled: int) -> Any:
    return value / _SCALE if scaled and value is not None else value


def _unpack_reason(r: _Reason) -> Reason:
    score, threshold = _unscale(r.score, r.scaled & 1), _unscale(r.threshold, r.scaled & 2)
    message = r.message
    if message is None:
        message = _worded(r.code, r.label, score, threshold)
        if message is None:
            raise msgspec.DecodeError(f"a {r.code!r} reason has no message to word")
    return Reason(r.code, message, r.label, score, threshold, r.words)


class Blob(msgspec.Struct, array_like=True, omit_defaults=True):
    """A decision's own part; ``facts`` is the digest of its :class:`Facts`."""

    format: int
    facts: bytes
    #: The status' position in :data:`_STATUSES`.
    status: int
    #: The actor; :data:`_AUTO` for ``"auto"`` (one byte instead of five, in every automatic
    #: decision).
    by: str | int
    decided_at: int
    reasons: list[_Reason] = msgspec.field(default_factory=list)
    #: The label scores in the facts' label order, packed (:func:`pack_values`).
    scores: Packed = msgspec.field(default_factory=lambda: Packed([]))
    #: ``[score, signal values…]`` in the facts' signal order, packed; ``None``: no spam result.
    spam: Packed | None = None
    rules: list[str] = msgspec.field(default_factory=list)
    note: str | None = None
    #: The statement's facts and codes; ``None`` when equal to the reasons' messages / codes.
    statement_facts: list[str] | None = None
    statement_codes: list[str] | None = None


_encoder = msgspec.msgpack.Encoder()
_blob_decoder = msgspec.msgpack.Decoder(Blob)
_facts_decoder = msgspec.msgpack.Decoder(Facts)
_cache: dict[bytes, Facts] = {}


def digest(encoded_facts: bytes) -> bytes:
    return hashlib.blake2b(encoded_facts, digest_size=8).digest()


def split(decision: Decision, names: dict[str, int] | None = None) -> tuple[Blob, Facts]:
    """The decision's own part and its shared facts; ``names`` is the encoder's table of dict
    keys (grown by this call when a signal's dict has a key it lacks)."""
    st = decision.statement
    spam = decision.spam
    table = {} if names is None else names
    scores = pack_values(decision.scores.values(), table)
    packed_spam = (
        pack_values([spam.score, *spam.signals.values()], table) if spam is not None else None
    )
    facts = Facts(
        labels=tuple(decision.scores),
        signals=tuple(spam.signals) if spam is not None else (),
        thresholds=decision.thresholds,
        spam_threshold=decision.spam_threshold,
        model=decision.model,
        restriction=st.restriction if st is not None else None,
        automated_detection=st.automated_detection if st is not None else False,
        automated_decision=st.automated_decision if st is not None else Automation.NOT,
        source=st.source if st is not None else Source.OWN_INITIATIVE,
        ground=st.ground if st is not None else None,
        redress=st.redress if st is not None else "",
        names=tuple(table),
    )
    messages = [r.message for r in decision.reasons]
    codes = [r.code for r in decision.reasons]
    blob = Blob(
        format=FORMAT,
        facts=b"",
        status=_STATUS_CODE[decision.status],
        by=_AUTO if decision.by == _AUTO_ACTOR else decision.by,
        decided_at=decision.decided_at,
        reasons=[_pack_reason(r) for r in decision.reasons],
        scores=scores,
        spam=packed_spam,
        rules=decision.rules,
        note=decision.note,
        statement_facts=None if st is None or st.facts == messages else st.facts,
        statement_codes=None if st is None or st.codes == codes else st.codes,
    )
    return blob, facts


#: Positions in a blob's array of the fields that hold structs of their own.
_REASONS, _SCORES, _SPAM = (Blob.__struct_fields__.index(f) for f in ("reasons", "scores", "spam"))


def _blob_wire(blob: Blob) -> list[Any]:
    """``blob`` as :func:`wire` lists, its reasons and packed values too."""
    out = wire(blob)
    if len(out) > _REASONS:
        out[_REASONS] = [wire(r) for r in blob.reasons]
    if len(out) > _SCORES:
        out[_SCORES] = wire(blob.scores)
    if len(out) > _SPAM and blob.spam is not None:
        out[_SPAM] = wire(blob.spam)
    return out


class Encoder:
    """Encodes decisions and remembers the facts this process has not stored yet.

    :meth:`pending_facts` must be written (``HSET Keys.decision_facts``) before, or in the same
    pipeline ahead of, the scripts that store the blobs; the store does it for every transition.
    """

    def __init__(self) -> None:
        self._known: dict[bytes, bytes] = {}  # encoded facts -> digest
        self._unsaved: dict[bytes, bytes] = {}  # digest -> encoded facts
        # Dict keys seen among spam signals, in order of first sight: only ever grows, so the
        # facts (which hold it) change only when a new key appears.
        self._names: dict[str, int] = {}

    def encode(self, decision: Decision) -> bytes:
        blob, facts = split(decision, self._names)
        encoded = _encoder.encode(facts)
        key = self._known.get(encoded)
        if key is None:
            key = digest(encoded)
            if len(self._known) > _CACHE_MAX:
                self._known.clear()
            self._known[encoded] = key
            self._unsaved[key] = encoded
            _remember(key, facts)
        blob.facts = key
        return _encoder.encode(_blob_wire(blob))

    def pending_facts(self) -> dict[bytes, bytes]:
        return self._unsaved

    def saved(self) -> None:
        self._unsaved = {}

    async def save(self, redis: Redis, keys: Keys) -> None:
        """Write the facts not stored yet (one ``HSET``; a no-op when there are none)."""
        if self._unsaved:
            await redis.hset(keys.decision_facts, mapping=self._unsaved)  # type: ignore[arg-type]
            self.saved()


def _remember(key: bytes, facts: Facts) -> None:
    if len(_cache) > _CACHE_MAX:
        _cache.clear()
    _cache[key] = facts


def facts_of(blob: bytes) -> bytes:
    """The digest of the facts a blob refers to (raises ``msgspec.DecodeError`` if corrupt)."""
    return _blob_decoder.decode(blob).facts


async def load_facts(redis: Redis, keys: Keys, blobs: Iterable[Any]) -> None:
    """Read into this process' cache the facts of ``blobs`` (``None``/empty/corrupt skipped)
    that it does not hold yet: one ``HMGET`` when any is missing, none otherwise."""
    missing: set[bytes] = set()
    for raw in blobs:
        if not raw:
            continue
        try:
            key = facts_of(raw)
        except msgspec.DecodeError:
            continue
        if key not in _cache:
            missing.add(key)
    if not missing:
        return
    wanted = sorted(missing)
    values: list[Any] = await redis.hmget(keys.decision_facts, wanted)
    for key, value in zip(wanted, values, strict=True):
        if value is not None:
            _remember(key, _facts_decoder.decode(value))


def decode(raw: bytes | str) -> Decision:
    """The decision a blob encodes; its facts must be cached (:func:`load_facts`). Raises
    ``msgspec.DecodeError`` for a corrupt blob, an unknown format or unknown facts."""
    blob = _blob_decoder.decode(raw.encode() if isinstance(raw, str) else raw)
    if blob.format != FORMAT:
        raise msgspec.DecodeError(f"decision format {blob.format} is not {FORMAT}")
    facts = _cache.get(blob.facts)
    if facts is None:
        raise msgspec.DecodeError(f"decision facts {blob.facts.hex()} are not stored")
    if not 0 <= blob.status < len(_STATUSES):
        raise msgspec.DecodeError(f"decision status code {blob.status} is unknown")
    by = blob.by
    if isinstance(by, int):
        if by != _AUTO:
            raise msgspec.DecodeError(f"decision actor code {by} is unknown")
        by = _AUTO_ACTOR
    reasons = [_unpack_reason(r) for r in blob.reasons]
    statement = None
    if facts.restriction is not None and facts.ground is not None:
        statement = Statement(
            restriction=facts.restriction,
            facts=blob.statement_facts
            if blob.statement_facts is not None
            else [r.message for r in reasons],
            codes=blob.statement_codes
            if blob.statement_codes is not None
            else [r.code for r in reasons],
            automated_detection=facts.automated_detection,
            automated_decision=facts.automated_decision,
            source=facts.source,
            ground=facts.ground,
            redress=facts.redress,
        )
    names = facts.names
    spam = None
    if blob.spam is not None:
        values = unpack_values(blob.spam, names)
        spam = SpamResult(
            score=values[0], signals=dict(zip(facts.signals, values[1:], strict=True))
        )
    return Decision(
        status=_STATUSES[blob.status],
        by=by,
        decided_at=blob.decided_at,
        reasons=reasons,
        scores=dict(zip(facts.labels, unpack_values(blob.scores, names), strict=True)),
        spam=spam,
        thresholds=dict(facts.thresholds),
        spam_threshold=facts.spam_threshold,
        model=facts.model,
        rules=blob.rules,
        note=blob.note,
        statement=statement,
    )


async def decode_many(redis: Redis, keys: Keys, blobs: list[Any]) -> list[Decision | None]:
    """Each blob decoded (``None`` for an absent, empty or corrupt one), facts loaded first."""
    await load_facts(redis, keys, blobs)
    out: list[Decision | None] = []
    for raw in blobs:
        try:
            out.append(decode(raw) if raw else None)
        except msgspec.DecodeError:
            out.append(None)
    return out


def as_json(raw: bytes | str | None) -> str:
    """A stored decision as the JSON of its :class:`Decision` (facts must be cached), for the
    stream's readers that pass it on (the archiver, the webhook sender); ``""`` for an absent or
    corrupt one. A value already JSON (an entry written by hand) passes through."""
    if not raw:
        return ""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if data[:1] == b"{":
        return data.decode(errors="replace")
    try:
        return json_encoder.encode(decode(data)).decode()
    except msgspec.DecodeError:
        return ""

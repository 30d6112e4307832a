from __future__ import annotations

import time

import pytest

from moderation.ids import id_time_ms, is_comment_id, new_id, pack_id, unpack_id
from moderation.messages import iso


def test_ids_sort_by_time_and_round_trip() -> None:
    ids = [new_id(1_700_000_000_000 + i) for i in range(0, 5000, 7)]
    assert ids == sorted(ids)
    assert all(len(i) == 26 and is_comment_id(i) for i in ids)
    assert id_time_ms(ids[3]) == 1_700_000_000_021
    now = int(time.time() * 1000)
    assert abs(id_time_ms(new_id()) - now) < 5000


def test_ids_are_unique_within_a_millisecond() -> None:
    assert len({new_id(1) for _ in range(10_000)}) == 10_000


@pytest.mark.parametrize(
    "bad", ["", "x" * 26, "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAVU"]
)
def test_malformed_ids(bad: str) -> None:
    assert not is_comment_id(bad)


def test_iso_timestamps() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert iso(None) is None


def test_packed_ids_take_16_bytes_and_come_back() -> None:
    """A comment id packs into 16 bytes; any other id (a test's, a replay's, one of exactly 16
    characters, one whose first digit leaves no room) comes back unchanged too."""
    ids = [new_id(), new_id(0), new_id(2**47 - 1), "0" * 26]
    assert all(len(pack_id(i)) == 16 and unpack_id(pack_id(i)) == i for i in ids)
    odd = ("c000001", "x" * 16, "", "é-ü", "7" + "0" * 25, "Z" * 26, "0" * 25 + "U", "0" * 25 + "i")
    for other in odd:
        assert len(pack_id(other)) != 16 and unpack_id(pack_id(other)) == other

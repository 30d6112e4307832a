"""The role clients' command packing (``store.client.fast_packing``): the same bytes on the wire
as redis-py's own packer, redis-py's errors for what hiredis does not take, and real round
trips through each client against a real ``redis-server``."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from moderation.store.client import api_client, fast_packing, listener_client, worker_client
from tests.conftest import RedisServer, make_settings

FAST = fast_packing(Connection)

ARGS: list[tuple[Any, ...]] = [
    ("EVALSHA", "ab" * 20, 2, "mod:k:1", b"mod:k:2", 1733500000000, -3, 2**70),
    ("HSET", "k", "f", "é ü \u2603", b"\x00\xff binary \r\n", 0.1, 1e20, -2.5),
    ("HMGET", "k", *(f"field{i}" for i in range(500))),
    ("SET", "k", ""),
    (b"GET", b"k"),
]


@pytest.mark.parametrize("args", ARGS, ids=[str(a[0]) for a in ARGS])
def test_same_bytes_as_redis_py(args: tuple[Any, ...]) -> None:
    fast, plain = FAST(), Connection()
    assert b"".join(fast.pack_command(*args)) == b"".join(plain.pack_command(*args))
    commands = [args, ("PING",)]
    assert b"".join(fast.pack_commands(commands)) == b"".join(plain.pack_commands(commands))


def test_what_hiredis_does_not_take_goes_redis_py_s_way() -> None:
    fast, plain = FAST(), Connection()
    # A command name with a space is split into its words, as redis-py does.
    assert fast.pack_command("CONFIG GET", "maxmemory") == plain.pack_command(
        "CONFIG GET", "maxmemory"
    )
    assert b"".join(fast.pack_command("CONFIG GET", "x")).startswith(b"*3\r\n$6\r\nCONFIG\r\n")
    # A memoryview or bytearray is packed as its bytes.
    assert b"".join(fast.pack_command("SET", "k", memoryview(b"abc"))) == b"".join(
        plain.pack_command("SET", "k", b"abc")
    )
    assert b"".join(fast.pack_command("SET", "k", bytearray(b"abc"))) == b"".join(
        plain.pack_command("SET", "k", b"abc")
    )
    # What redis-py refuses is refused with its own error, naming the type.
    for bad in (True, None, object()):
        with pytest.raises(DataError):
            fast.pack_command("SET", "k", bad)
    with pytest.raises(UnicodeEncodeError):
        fast.pack_command("SET", "k", "\ud800")


def test_the_role_clients_pack_fast_on_every_transport(redis_server: RedisServer) -> None:
    settings = make_settings(redis_server.url)
    for make in (api_client, listener_client, worker_client):
        pool = make(settings).connection_pool
        assert issubclass(pool.connection_class, Connection)
        assert "FastPacking" in "".join(c.__name__ for c in pool.connection_class.__mro__)
    unix = worker_client(make_settings("unix:///tmp/nowhere.sock")).connection_pool
    assert issubclass(unix.connection_class, UnixDomainSocketConnection)
    assert unix.connection_class.__name__ == "FastPackingUnixDomainSocketConnection"


async def test_round_trips_through_the_role_clients(redis_server: RedisServer) -> None:
    settings = make_settings(redis_server.url)
    value = b"\x00\xff\r\n" + "é\u2603".encode()
    for make in (api_client, worker_client):
        redis = make(settings)
        try:
            key = f"test:packing:{make.__name__}"
            await redis.delete(key)
            assert await redis.hset(key, mapping={"b": value, "n": 2**40, "f": 0.25}) == 3
            assert await redis.hmget(key, ["b", "n", "f", "absent"]) == [
                value,
                b"1099511627776",
                b"0.25",
                None,
            ]
            pipe = redis.pipeline(transaction=True)
            pipe.hincrby(key, "n", -1)
            pipe.eval("return {KEYS[1], ARGV[1], ARGV[2]}", 1, key, value, 7)
            assert await pipe.execute() == [2**40 - 1, [key.encode(), value, b"7"]]
            assert (await redis.config_get("maxmemory-policy"))["maxmemory-policy"] == (
                "noeviction"
            )
            await redis.delete(key)
        finally:
            await redis.aclose()

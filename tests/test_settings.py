"""Settings: read once from MODERATION_* variables, typed, validated, typos refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.errors import ConfigError
from moderation.settings import DEFAULT_THRESHOLDS, Settings


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({"MODERATION_DATA_DIR": str(tmp_path)})
    assert s.redis_url is None
    assert s.max_text_chars == 10_000 and s.max_body_bytes == 65_536
    assert dict(s.thresholds) == DEFAULT_THRESHOLDS


def test_no_redis_url_means_the_embedded_one_or_a_clear_error(tmp_path: Path) -> None:
    """Never a silent fall-back to someone else's Redis on 127.0.0.1:6379."""
    s = Settings(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="MODERATION_REDIS_URL is not set"):
        s.resolved_redis_url()
    s.embedded_redis_dir.mkdir()
    s.embedded_redis_socket.touch()  # where `moderation run` keeps its redis-server's socket
    assert s.resolved_redis_url() == f"unix://{tmp_path.resolve()}/redis/redis.sock"
    assert s.with_overrides(redis_url="redis://r:1/0").resolved_redis_url() == "redis://r:1/0"


def test_types_are_converted() -> None:
    s = Settings.from_env(
        {
            "MODERATION_REDIS_URL": "redis://r:6379/2",
            "MODERATION_BATCH_SIZE": "64",
            "MODERATION_REDIS_TIMEOUT_S": "0.25",
            "MODERATION_DATA_DIR": "/srv/mod",
            "MODERATION_CORS_ORIGINS": "https://a.example, https://b.example",
            "MODERATION_THRESHOLDS": "insult=0.5, threat=0.4",
        }
    )
    assert s.redis_url == "redis://r:6379/2"
    assert s.batch_size == 64 and s.redis_timeout_s == 0.25
    assert s.data_dir == Path("/srv/mod")
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.thresholds["insult"] == 0.5 and s.thresholds["threat"] == 0.4
    assert s.thresholds["toxicity"] == 0.8  # untouched labels keep their defaults


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MODERATION_BATCHSIZE": "3"}, "MODERATION_BATCHSIZE"),
        ({"MODERATION_BATCH_SIZE": "many"}, "MODERATION_BATCH_SIZE"),
        ({"MODERATION_BATCH_SIZE": "0"}, "MODERATION_BATCH_SIZE"),
        ({"MODERATION_THRESHOLDS": "insult=2"}, "insult"),
        ({"MODERATION_THRESHOLDS": "insult"}, "insult"),
        ({"MODERATION_SCORER": "gpt"}, "MODERATION_SCORER"),
        ({"MODERATION_DEVICE": "tpu"}, "MODERATION_DEVICE"),
        ({"MODERATION_SPAM_THRESHOLD": "1.5"}, "MODERATION_SPAM_THRESHOLD"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert needle in err.value.message


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.batch_size = 3  # type: ignore[misc]
    assert s.with_overrides(batch_size=3).batch_size == 3 and s.batch_size == 32

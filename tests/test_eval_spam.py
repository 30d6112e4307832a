"""``moderation eval spam`` on small slices of the shipped data, and its data loading."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from moderation.cli import main
from moderation.errors import ConfigError
from moderation.evaluation.datasets import SMS_EPOCH_MS, html_to_text, load
from moderation.settings import Settings
from tests.conftest import ROOT

DATA = Path(os.environ.get("EVAL_DATA_DIR", ROOT.parent / "shared" / "data"))
YOUTUBE = DATA / "youtube-spam-collection"
SMS = DATA / "sms-spam-collection" / "SMSSpamCollection"
LINE = re.compile(
    r"^spam mode=(zero-shot|prequential) n=(\d+) precision=([01]\.\d{4}) recall=([01]\.\d{4}) "
    r"f1=([01]\.\d{4}) fpr=([01]\.\d{4})$"
)

needs_data = pytest.mark.skipif(
    not (YOUTUBE.is_dir() and SMS.is_file()), reason=f"evaluation data not found under {DATA}"
)


def test_html_becomes_what_a_reader_saw() -> None:
    raw = 'Hi&#39;s <a href="http://x.example/">2:19</a> best<br />part &amp; more<br/>'
    assert html_to_text(raw) == "Hi's 2:19 best\npart & more"


def test_youtube_rows_without_date_stay_where_they_were_posted(tmp_path: Path) -> None:
    f = tmp_path / "video.csv"
    f.write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"
        "c1,A,2015-05-29T02:00:00,newest,0\n"
        "c2,B,,undated,1\n"
        "c3,C,2015-05-29T01:00:00,older,0\n"
        "c4,D,2015-05-29T00:00:00,oldest,1\n",
        encoding="utf-8",
    )
    items = load([f])
    assert [c.text for c in items] == ["oldest", "older", "undated", "newest"]
    undated = items[2]
    assert undated.created_ms == (items[1].created_ms + items[3].created_ms) // 2
    assert undated.is_spam and undated.article == "video" and undated.source == "video.csv:2"


def test_sms_is_replayed_in_file_order(tmp_path: Path) -> None:
    f = tmp_path / "sms.tsv"
    f.write_text("ham\thello there\nspam\tWIN a prize, txt 8008\nham\tok\n", encoding="utf-8")
    items = load([f])
    assert [c.text for c in items] == ["hello there", "WIN a prize, txt 8008", "ok"]
    assert [c.created_ms - SMS_EPOCH_MS for c in items] == [0, 60_000, 120_000]
    assert len({c.author for c in items}) == 3


def test_unknown_files_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "other.csv"
    f.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="neither"):
        load([f])
    with pytest.raises(ConfigError, match="no such"):
        load([tmp_path / "missing.csv"])


@needs_data
def test_shipped_data_loads_with_documented_counts() -> None:
    youtube = load([YOUTUBE])
    assert len(youtube) == 1956 and sum(c.is_spam for c in youtube) == 1005
    assert [c.created_ms for c in youtube] == sorted(c.created_ms for c in youtube)
    sms = load([SMS])
    assert len(sms) == 5574 and sum(c.is_spam for c in sms) == 747


@needs_data
def test_eval_command_on_a_slice_starts_its_own_redis(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "moderation",
            "eval",
            "spam",
            "--data",
            str(YOUTUBE / "Youtube04-Eminem.csv"),
            "--limit",
            "60",
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    zero, preq = LINE.match(lines[-2]), LINE.match(lines[-1])
    assert zero and preq, lines[-2:]
    assert zero.group(1) == "zero-shot" and preq.group(1) == "prequential"
    assert zero.group(2) == preq.group(2) == "60"
    assert "precision" in out.stdout and "brier" in out.stdout  # the table
    pngs = list(tmp_path.glob("spam-learning-curve-*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:4] == b"\x89PNG"


@needs_data
def test_eval_prequential_learns_on_given_redis_and_cleans_up(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = settings.resolved_redis_url()
    code = main(
        [
            "eval",
            "spam",
            "--data",
            str(SMS),
            "--limit",
            "150",
            "--mode",
            "prequential",
            "--redis-url",
            url,
            "--out",
            str(tmp_path),
            "--no-progress",
            "--show-errors",
            "3",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    match = LINE.match(lines[-1])
    assert match and match.group(1) == "prequential" and match.group(2) == "150"
    assert not [line for line in lines if line.startswith("spam mode=zero-shot")]
    # Every key the run wrote is gone again.
    assert redis.Redis.from_url(url).keys("eval-spam-*") == []

"""Secrets leave messages by parsing, never by substring replacement (issue 15).

With database password ``p`` the unreachable-database message used to read ``***ort 1 failed``:
the password was replaced wherever its letters occurred. Now URLs are parsed (their password
field masked), ``password=`` pairs are masked, and a bare password only where it is a whole value.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agentsync import db

AGENTSYNC = str(Path(sys.executable).with_name("agentsync"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_short_password_leaves_ordinary_words_readable():
    url = "postgresql://u:p@127.0.0.1:1/db"
    text = 'connection to server at "127.0.0.1", port 1 failed: Connection refused'
    assert db.scrub_secrets(text, url) == text


def test_password_in_a_url_in_the_message_is_masked_by_parsing():
    url = "postgresql://app:s3cret-pw@db.example:5432/agentsync"
    other = "postgresql://legacy:other%2Fpw@old.example/crm?sslmode=require"
    text = f"cannot use {other} (and postgresql://x:y@h/d) while {url} is configured"
    out = db.scrub_secrets(text, url)
    assert "s3cret-pw" not in out and "other%2Fpw" not in out and "x:y@" not in out
    assert "postgresql://app:***@db.example:5432/agentsync" in out
    assert "postgresql://legacy:***@old.example/crm?sslmode=require" in out
    assert "postgresql://x:***@h/d" in out
    assert out.startswith("cannot use ") and out.endswith(" is configured")


def test_configured_url_with_unencoded_specials_is_masked_whole():
    url = "postgresql://u:pa ss@word@h/d"  # not parseable as a token in text: masked whole
    out = db.scrub_secrets(f"bad url {url}!", url)
    assert "pa ss" not in out and "word@" not in out
    assert out == "bad url postgresql://u:***@h/d!"


def test_password_query_parameter_and_libpq_pairs_are_masked():
    url = "postgresql://h/d?user=u&password=hunter2"
    text = (
        f"url {url}; dsn host=h password=hunter2 user=u; quoted password='a b\\' c' dbname=d; "
        "hunter2 is a word here"
    )
    out = db.scrub_secrets(text, url)
    assert "password=hunter2" not in out
    assert "postgresql://h/d?user=u&password=***" in out
    assert "host=h password=*** user=u" in out
    assert "password=*** dbname=d" in out and "a b" not in out
    # the same letters as an ordinary word are not a credential position
    assert out.endswith("hunter2 is a word here")


def test_quoted_value_or_whole_text_equal_to_the_password_is_masked():
    url = "postgresql://u:p%40ss@h/d"
    assert db.scrub_secrets("p@ss", url) == "***"
    assert db.scrub_secrets('unknown host "p%40ss" in pass', url) == 'unknown host "***" in pass'
    assert db.scrub_secrets("role 'p@ss' passes", url) == "role '***' passes"


@pytest.mark.parametrize("password", ["p", "o", "1"])
def test_unreachable_database_message_is_readable(tmp_path, password):
    """The real CLI against a port nothing listens on, with a one-letter password."""
    port = _free_port()
    url = f"postgresql://u:{password}@127.0.0.1:{port}/db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSYNC_")}
    env.update(AGENTSYNC_DATA_DIR=str(tmp_path), AGENTSYNC_DATABASE_URL=url)
    proc = subprocess.run(
        [AGENTSYNC, "users", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 3, proc.stderr
    err = proc.stderr
    assert f"postgresql://u:***@127.0.0.1:{port}/db" in err, err
    assert f"u:{password}@" not in err
    assert "***ort" not in err and "port" in err and "failed" in err, err
    assert "Connection refused" in err or "connection refused" in err, err


def test_password_in_userinfo_position_is_masked():
    url = "postgresql://legacy:Hunter2@Secret@127.0.0.1:1/old"  # unencoded "@" in the password
    text = 'could not translate host name "Hunter2@Secret@127.0.0.1" to address; legacy:Hunter2@Secret@x'
    out = db.scrub_secrets(text, url)
    assert "Hunter2" not in out, out
    assert out == 'could not translate host name "***@127.0.0.1" to address; legacy:***@x'
    # not in a userinfo position: "p@" inside a word is left alone
    assert db.scrub_secrets("mailto: help@example.org", "postgresql://u:p@h/d").endswith(
        "help@example.org"
    )

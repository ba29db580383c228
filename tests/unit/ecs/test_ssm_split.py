"""tests/support/ssm_split.py against google/shlex's own test (shlex_test.go @e7afc7f) and the
cases where it parts from POSIX, which the commands of docs/faults.md must not depend on."""

from __future__ import annotations

import shlex

import pytest

from tests.support.ssm_split import split

# google/shlex's TestSplit input and expected words.
UPSTREAM = (
    'one two "three four" "five \\"six\\"" seven#eight # nine # ten\n'
    " eleven 'twelve\\' thirteen=13 fourteen/14"
)


def test_split_is_google_shlex():
    assert split(UPSTREAM) == [
        "one",
        "two",
        "three four",
        'five "six"',
        "seven#eight",
        "eleven",
        "twelve\\",
        "thirteen=13",
        "fourteen/14",
    ]
    # A backslash in double quotes escapes any character (POSIX keeps it before most).
    assert split('"a\\r"') == ["ar"] and shlex.split('"a\\r"') == ["a\\r"]
    # Single quotes and backslashes outside quotes as in POSIX: '\'' closes, escapes, reopens.
    quoted = "bash -c 'printf '\\''x\\r\\n'\\'' >&3'"
    assert split(quoted) == shlex.split(quoted) == ["bash", "-c", "printf 'x\\r\\n' >&3"]
    assert split("") == [] and split("''") == [""]


@pytest.mark.parametrize("command", ["'open", '"open', "trailing\\"])
def test_split_refuses_what_google_shlex_refuses(command):
    with pytest.raises(ValueError, match="google/shlex refuses"):
        split(command)

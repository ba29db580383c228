"""How ECS Exec turns ``aws ecs execute-command --command`` into a process, for tests of the
commands docs/faults.md gives.

In a container (ECS Exec) the SSM agent does not hand the command to a shell: it splits it
with ``github.com/google/shlex`` and runs the words (``StartCommandExecutor``,
aws/amazon-ssm-agent agent/session/shell/shell_unix.go @32306b66, ``appConfig.Agent.
ContainerMode``; google/shlex v0.0.0-20191202100458-e7afc7fbc510 in its go.mod @72b4a3c9).
``split`` is that library's ``Split`` (shlex.go @e7afc7f), state for state. It differs from
POSIX (and Python's ``shlex``): a backslash in double quotes escapes any character, and ``#``
starts a comment only where a word could start.
"""

from __future__ import annotations

SPACE = " \t\r\n"
# Where a word's quoting and escape characters lead.
OPENERS = {'"': "double", "'": "single", "\\": "escape"}


def _in_word(char: str) -> tuple[str, str]:
    if char in SPACE:
        return "end", ""
    return (OPENERS[char], "") if char in OPENERS else ("word", char)


# Each state's next state after a character, and what the character adds to the word.
STEPS = {
    "start": lambda c: (
        ("start", "") if c in SPACE else ("comment", "") if c == "#" else _in_word(c)
    ),
    "word": _in_word,
    "escape": lambda c: ("word", c),
    "double-escape": lambda c: ("double", c),
    "double": lambda c: {'"': ("word", ""), "\\": ("double-escape", "")}.get(c, ("double", c)),
    "single": lambda c: ("word", "") if c == "'" else ("single", c),
    "comment": lambda c: ("start" if c == "\n" else "comment", ""),
}


def split(command: str) -> list[str]:
    """The words google/shlex's ``Split`` makes of ``command``; ``ValueError`` where it
    returns an error (an unclosed quote, a trailing backslash: the agent fails the session)."""
    words: list[str] = []
    word: str | None = None
    state = "start"
    for char in command:
        if state == "start" and char not in SPACE and char != "#":
            word = ""  # a word begins, possibly an empty quoted one
        state, added = STEPS[state](char)
        if state == "end":
            assert word is not None  # a word ends only after it began
            words.append(word)
            word, state = None, "start"
        else:
            word = None if word is None else word + added
    if state not in ("start", "word", "comment"):
        raise ValueError(f"google/shlex refuses {command!r}: it ends in state {state}")
    if word is not None:
        words.append(word)
    return words

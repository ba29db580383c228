"""The error of a command line the machine or the file system refuses (exit 2, one line)."""

from __future__ import annotations


class UsageError(Exception):
    """An argument cannot be honoured: the message is one line for the user."""

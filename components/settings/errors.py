"""The one error every bad stack configuration raises, naming the key and the reason."""

from __future__ import annotations

from components.settings.naming import PROJECT


class ConfigError(Exception):
    """A stack configuration value is wrong; the message names the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        # Keys of other namespaces (aws:region) are named as they are written.
        qualified = key if ":" in key else f"{PROJECT}:{key}"
        super().__init__(f"{qualified}: {reason}")
        self.key = key
        self.reason = reason

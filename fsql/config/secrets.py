"""Secret scrubbing: values read through env_var() for connection configs never leave.

Every output path (CLI errors, logs, sidecar metadata) passes text through
`scrub`, which replaces every registered secret value with `****`. The registry
is per process because secrets are, too: an env var's value is the same for every
store built in this process.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "****"


def register_secret(value: str) -> None:
    """Remember a value that must never be printed or written (ignores trivial ones)."""
    if isinstance(value, str) and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """Replace every registered secret in `text` with a mask (longest first)."""
    if not _secrets or not text:
        return text
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def is_secret(value: str) -> bool:
    with _lock:
        return value in _secrets

"""Engine adapters: run SQL text, move Arrow in and out, nothing about definitions."""

from fsql.adapters.base import OfflineAdapter, open_offline

__all__ = ["OfflineAdapter", "open_offline"]

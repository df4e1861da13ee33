"""fsql: feature views as SQL + YAML, compiled once for training sets and online serving."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fsql.version import __version__

__all__ = ["FeatureRef", "FeatureStore", "__version__"]

if TYPE_CHECKING:
    from fsql.definitions.models import FeatureRef
    from fsql.store import FeatureStore


def __getattr__(name: str) -> Any:
    # Imported lazily so that `import fsql` (and `fsql --help`) stays cheap.
    if name == "FeatureStore":
        from fsql.store import FeatureStore

        return FeatureStore
    if name == "FeatureRef":
        from fsql.definitions.models import FeatureRef

        return FeatureRef
    raise AttributeError(name)

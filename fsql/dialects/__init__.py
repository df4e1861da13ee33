"""Engine dialects: small declarations the compiler consults, one module per engine."""

from fsql.dialects.base import EngineDialect, get_dialect

__all__ = ["EngineDialect", "get_dialect"]

"""Defaults the public API names in its signatures, kept in a module that imports
nothing: a default argument is evaluated when its module is imported, and a short-lived
process (`fsql get-online`) must not load the engine code that uses these values."""

from __future__ import annotations

# The entity table's time column unless told otherwise (SPEC: build-training-set).
EVENT_TIMESTAMP = "event_timestamp"
# The memory budget of a materialization's reads, in MiB (fsql.online.materialize).
MATERIALIZE_MEMORY_MB = 640
# The share of mismatching values above which a feature is reported as skewed.
SKEW_THRESHOLD = 0.01

"""The ref() graph of feature views: topological order and dbt-style node selection."""

from __future__ import annotations

from fsql.graph.dag import Dag
from fsql.graph.selector import select_views

__all__ = ["Dag", "select_views"]

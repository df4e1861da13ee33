"""Frozen, validated project definitions: entities, sources, feature views, services."""

from fsql.definitions.durations import parse_duration
from fsql.definitions.models import (
    Entity,
    Feature,
    FeatureRef,
    FeatureService,
    FeatureView,
    OnDemandFeature,
    Project,
    Source,
)
from fsql.definitions.types import FeatureType

__all__ = [
    "Entity",
    "Feature",
    "FeatureRef",
    "FeatureService",
    "FeatureType",
    "FeatureView",
    "OnDemandFeature",
    "Project",
    "Source",
    "parse_duration",
]

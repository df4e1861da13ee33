"""What a training set or an online read asks for: feature references resolved into one
join per view (or per alias of a view), output names, and on-demand features bound to
their inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from fsql.compile.items import PitItem
from fsql.compile.on_demand import OnDemandItem, bind_on_demand, hidden_input
from fsql.definitions.models import FeatureRef, OnDemandFeature, Project
from fsql.definitions.types import FeatureType
from fsql.errors import ProjectError
from fsql.project.refs import check_ref


@dataclass(frozen=True)
class FeatureSelection:
    """Requested features grouped per view (one join each), and the output column order.

    `on_demand` holds the requested on-demand features; their inputs are among `items`
    (under a hidden output name when they were not requested themselves), and their
    output names are among `columns`, in requested order.
    """

    items: tuple[PitItem, ...]
    columns: tuple[str, ...]
    refs: tuple[str, ...]
    on_demand: tuple[OnDemandItem, ...] = ()

    @cached_property
    def feature_types(self) -> dict[str, FeatureType]:
        """The declared type of each view feature's output column (computed once: the
        feature server asks for it on every request)."""
        types: dict[str, FeatureType] = {}
        for item in self.items:
            for feature, out in zip(item.features, item.output_names, strict=True):
                declared = item.view.feature(feature)
                if declared is not None:
                    types[out] = declared.type
        return types


def resolve_features(
    project: Project, refs: Sequence[str | FeatureRef], full_feature_names: bool
) -> FeatureSelection:
    """Turn `view:feature` / `view` references into per-view items, in requested order.

    Features of one view are grouped into one join (first appearance decides the
    view's position); output columns keep the requested order. A reference with an
    alias (a service entry `{view, as, join_keys}`) is a join of its own, its columns
    named `<alias>__<feature>`. Raises on unknown references and on two outputs with
    the same name.
    """
    if not refs:
        raise ProjectError("no features requested", hint="pass --features view:feature,...")
    per_group: dict[str, list[tuple[str, str]]] = {}
    group_refs: dict[str, FeatureRef] = {}
    seen: dict[str, str] = {}
    on_demand: list[tuple[OnDemandFeature, str]] = []
    for given in refs:
        ref = _parsed(given)
        odf = _on_demand_ref(project, ref)
        if odf is not None:
            out = odf.name
            if out in seen:
                if seen[out] == f"{ON_DEMAND}:{odf.name}":
                    continue
                raise ProjectError(
                    f"two requested features are both named '{out}' ({seen[out]} and "
                    f"{ON_DEMAND}:{odf.name})",
                    hint="drop one, or use --full-feature-names for the view feature",
                )
            seen[out] = f"{ON_DEMAND}:{odf.name}"
            on_demand.append((odf, out))
            continue
        problem = check_ref(ref, project.views, set())
        if problem:
            raise ProjectError(problem)
        view = project.views[ref.view]
        if ref.alias is not None and ref.alias in project.views:
            raise ProjectError(
                f"'{ref}': the alias '{ref.alias}' is the name of a feature view",
                hint="choose another `as:` name",
            )
        group_refs.setdefault(ref.group, ref)
        names = [ref.feature] if ref.feature else list(view.feature_names)
        for feature in names:
            if ref.alias is not None:
                out = f"{ref.alias}__{feature}"
            else:
                out = f"{view.name}__{feature}" if full_feature_names else feature
            source = f"{view.name}:{feature}" + (f" as {ref.alias}" if ref.alias else "")
            if out in seen:
                if seen[out] == source:
                    continue  # the same feature asked for twice: one column
                raise ProjectError(
                    f"two requested features are both named '{out}' ({seen[out]} and {source})",
                    hint="use --full-feature-names (full_feature_names=True) or drop one",
                )
            seen[out] = source
            per_group.setdefault(ref.group, []).append((feature, out))
    bound = tuple(_bind(project, odf, out, per_group) for odf, out in on_demand)
    items = tuple(
        _item(project, group_refs.get(group, FeatureRef(group)), pairs)
        for group, pairs in per_group.items()
    )
    return FeatureSelection(items, tuple(seen), tuple(str(r) for r in refs), bound)


def _parsed(given: str | FeatureRef) -> FeatureRef:
    if isinstance(given, FeatureRef):
        return given
    try:
        return FeatureRef.parse(given)
    except ValueError as err:
        raise ProjectError(str(err), hint="write view:feature or a view name") from None


def _item(project: Project, ref: FeatureRef, pairs: list[tuple[str, str]]) -> PitItem:
    """One join: the view's features `pairs` (feature, output name); a view joined
    through other entity columns is given those columns as its join keys."""
    view = project.views[ref.view]
    features = tuple(f for f, _ in pairs)
    outputs = tuple(o for _, o in pairs)
    if not ref.key_map:
        return PitItem(view, features, outputs)
    mapping = dict(ref.key_map)
    keys = tuple(mapping.get(k, k) for k in view.join_keys)
    return PitItem(replace(view, join_keys=keys), features, outputs, stored_keys=view.join_keys)


# `on_demand:name` names an on-demand feature explicitly; a bare `name` does too when no
# view is called that.
ON_DEMAND = "on_demand"


def _on_demand_ref(project: Project, ref: FeatureRef) -> OnDemandFeature | None:
    if ref.view in project.views:
        return None
    if ref.feature is None:
        return project.on_demand.get(ref.view)
    if ref.view == ON_DEMAND:
        odf = project.on_demand.get(ref.feature)
        if odf is None:
            known = ", ".join(sorted(project.on_demand)) or "none"
            raise ProjectError(
                f"no on-demand feature named '{ref.feature}'", hint=f"on-demand features: {known}"
            )
        return odf
    return None


def _bind(
    project: Project,
    odf: OnDemandFeature,
    output_name: str,
    per_group: dict[str, list[tuple[str, str]]],
) -> OnDemandItem:
    """Bind `odf`'s inputs to the output columns of their view features, adding a hidden
    column to the join for each input that was not requested itself."""
    columns: dict[tuple[str, str], str] = {}
    types: dict[tuple[str, str], FeatureType] = {}
    for ref in odf.inputs:
        view = project.views[ref.view]
        names = [ref.feature] if ref.feature else list(view.feature_names)
        for name in names:
            pairs = per_group.setdefault(view.name, [])
            column = next((o for f, o in pairs if f == name), None)
            if column is None:
                column = hidden_input(view.name, name)
                pairs.append((name, column))
            declared = view.feature(name)
            assert declared is not None  # inputs were checked when the project loaded
            columns[(view.name, name)] = column
            types[(view.name, name)] = declared.type
    return bind_on_demand(odf, output_name, columns, types)

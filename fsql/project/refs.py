"""References between definitions: a model's ref() and source(), and the `view:feature`
references of feature services and on-demand features."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsql.definitions.models import FeatureRef, FeatureView
from fsql.project.names import hint_names

if TYPE_CHECKING:  # the parse's; `check_ref` is also used when serving, which parses nothing
    from fsql.project.context import ParseContext


def check_ref(ref: FeatureRef, views: dict[str, FeatureView], declared: set[str]) -> str | None:
    """Why `ref` does not name a feature of the project, or None when it does."""
    if ref.view not in views:
        if ref.view in declared:
            return None  # the view itself has errors, reported elsewhere
        return f"unknown feature view '{ref.view}' ({hint_names(ref.view, views)})"
    if ref.feature is not None and views[ref.view].feature(ref.feature) is None:
        return (
            f"feature view '{ref.view}' has no feature '{ref.feature}' "
            f"({hint_names(ref.feature, views[ref.view].feature_names)})"
        )
    return None


def feature_ref_problem(
    ctx: ParseContext, ref: FeatureRef, views: dict[str, FeatureView]
) -> str | None:
    """Why a service's or on-demand feature's `ref` names nothing, or None.

    An on-demand feature may be named alone (`name`, unless a view has that name) or as
    `on_demand:name`; anything else is a view's feature.
    """
    odfs = {str(d.get("name")) for d, _ in ctx.declared.odf_docs}
    on_demand = (ref.feature is None and ref.view in odfs and ref.view not in views) or (
        ref.view == "on_demand" and ref.feature in odfs
    )
    return None if on_demand else check_ref(ref, views, set(ctx.declared.view_docs))


def check_model_refs(ctx: ParseContext, views: dict[str, FeatureView]) -> None:
    """Report each ref() and source() of a parsed model that names nothing declared."""
    declared = ctx.declared
    for view in views.values():
        for ref in view.refs:
            if ref == view.name:
                ctx.errs.add(
                    f"feature view '{view.name}' refs itself",
                    view.sql_path,
                    hint="use {{ this }} for the view's own table",
                )
            elif ref not in views and ref not in declared.view_docs:
                ctx.errs.add(
                    f"ref('{ref}'): no feature view of that name",
                    view.sql_path,
                    # A view cannot ref itself: never suggest it.
                    hint=hint_names(ref, [v for v in declared.view_docs if v != view.name]),
                )
        for key in view.sources:
            if key not in declared.sources and key not in declared.bad_sources:
                known = [f"{s}.{t}" for s, t in declared.sources]
                ctx.errs.add(
                    f"source('{key[0]}', '{key[1]}'): no such source table",
                    view.sql_path,
                    hint=hint_names(f"{key[0]}.{key[1]}", known),
                )

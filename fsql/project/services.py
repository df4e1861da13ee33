"""Feature services and on-demand features: references to features of valid views."""

from __future__ import annotations

import sqlglot
from sqlglot.errors import ParseError, TokenError

from fsql.config.yaml_lines import line_of
from fsql.definitions.models import (
    FeatureRef,
    FeatureService,
    FeatureView,
    OnDemandFeature,
    RequestColumn,
)
from fsql.definitions.types import FeatureType
from fsql.project.collect import (
    BuildState,
    check_ref,
)
from fsql.project.engine_parse import duckdb_syntax_error


class ServicesMixin(BuildState):
    def _services(self, views: dict[str, FeatureView]) -> dict[str, FeatureService]:
        out: dict[str, FeatureService] = {}
        for doc, display in self.service_docs:
            name = doc["name"]
            refs: list[FeatureRef] = []
            raw = doc.get("features") or []
            for text in raw if isinstance(raw, list) else []:
                try:
                    ref = FeatureRef.parse(str(text))
                except ValueError as err:
                    self.errs.add(f"feature service '{name}': {err}", display, line_of(doc))
                    continue
                odfs = {str(d.get("name")) for d, _ in self.odf_docs}
                on_demand = (
                    ref.feature is None and ref.view in odfs and ref.view not in views
                ) or (ref.view == "on_demand" and ref.feature in odfs)
                problem = None if on_demand else check_ref(ref, views, set(self.view_docs))
                if problem:
                    self.errs.add(f"feature service '{name}': {problem}", display, line_of(doc))
                refs.append(ref)
            if not refs:
                self.errs.add(f"feature service '{name}' lists no features", display, line_of(doc))
            if name in out:
                self.errs.add(f"duplicate feature service '{name}'", display, line_of(doc))
            out[name] = FeatureService(
                name, tuple(refs), str(doc.get("description", "")), display, line_of(doc)
            )
        return out

    def _on_demand(self, views: dict[str, FeatureView]) -> dict[str, OnDemandFeature]:
        out: dict[str, OnDemandFeature] = {}
        for doc, display in self.odf_docs:
            name, line = doc["name"], line_of(doc)
            try:
                ftype = FeatureType.parse(doc.get("type"))
                expression = sqlglot.parse_one(
                    str(doc.get("expression", "")), read=self.config.dialect
                )
            except (ValueError, ParseError, TokenError) as err:
                self.errs.add(
                    f"on-demand feature '{name}': {str(err).splitlines()[0]}", display, line
                )
                continue
            if self.config.dialect == "duckdb":
                problem = duckdb_syntax_error(f"SELECT {doc.get('expression', '')}")
                if problem is not None:
                    self.errs.add(
                        f"on-demand feature '{name}': expression: {problem.message} "
                        "(DuckDB's parser)",
                        display,
                        line,
                        hint="fix the expression",
                    )
                    continue
            cols = []
            for col in doc.get("request_columns") or []:
                try:
                    cols.append(RequestColumn(str(col["name"]), FeatureType.parse(col["type"])))
                except (KeyError, TypeError, ValueError):
                    self.errs.add(
                        f"on-demand feature '{name}': request_columns entries need name and type",
                        display,
                        line,
                    )
            inputs = []
            for text in doc.get("inputs") or []:
                try:
                    ref = FeatureRef.parse(str(text))
                except ValueError as err:
                    self.errs.add(f"on-demand feature '{name}': {err}", display, line)
                    continue
                odfs = {str(d.get("name")) for d, _ in self.odf_docs}
                on_demand = (
                    ref.feature is None and ref.view in odfs and ref.view not in views
                ) or (ref.view == "on_demand" and ref.feature in odfs)
                problem = None if on_demand else check_ref(ref, views, set(self.view_docs))
                if problem:
                    self.errs.add(f"on-demand feature '{name}': {problem}", display, line)
                inputs.append(ref)
            if name in out:
                self.errs.add(
                    f"duplicate on-demand feature '{name}'",
                    display,
                    line,
                    hint="on-demand feature names must be unique",
                )
                continue
            out[name] = OnDemandFeature(
                name, ftype, expression, tuple(cols), tuple(inputs), display, line
            )
        return out

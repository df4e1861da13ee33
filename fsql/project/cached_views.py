"""Which views of a parse come from the partial-parse cache, and the entries a parse
leaves for the next one (see fsql.project.parse_cache for what a digest covers)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fsql.config.yaml_lines import line_of
from fsql.definitions.models import Entity, FeatureView
from fsql.project.context import ParseContext
from fsql.project.parse_cache import (
    Entry,
    ParseCache,
    ViewInputs,
    view_digest,
    view_from_json,
    view_to_json,
)


class CachedViews:
    """The cache as one parse uses it: `view` answers a view whose inputs are unchanged,
    `record` writes an entry for every view that parsed."""

    def __init__(self, ctx: ParseContext, sql_files: dict[str, Path], cache: ParseCache) -> None:
        self.ctx = ctx
        self.sql_files = sql_files
        self.cache = cache
        macros = hashlib.sha256()
        for path in sorted(ctx.files.macros):
            macros.update(str(ctx.files.rel(path)).encode() + b"\0" + path.read_bytes())
        self._macros = macros.hexdigest()
        # What a source or entity is, not where it is declared (its file and line only
        # show in errors, which a cached view has none of).
        self._sources = {
            f"{s}.{t}": [str(src.path), src.identifier]
            for (s, t), src in ctx.declared.sources.items()
        }
        self._inputs: dict[str, ViewInputs | None] = {}
        self._valid: dict[str, str | None] = {}  # name -> digest of a usable entry

    def inputs(self, name: str) -> ViewInputs | None:
        """What the view's digest covers besides its reads; None when it cannot be read."""
        if name not in self._inputs:
            found = self.ctx.declared.view_docs.get(name)
            path = self.sql_files.get(name)
            made = None
            if found is not None and path is not None:
                doc, display = found
                named = doc.get("entities")
                entities = self.ctx.declared.entities
                try:
                    model = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    model = None
                if model is not None:
                    made = ViewInputs(
                        model=model,
                        model_path=str(self.ctx.files.rel(path)),
                        doc={"doc": doc, "line": line_of(doc)},
                        display=display,
                        entities=[_entity(entities.get(str(e))) for e in named]
                        if isinstance(named, list)
                        else repr(named),
                        macros=self._macros,
                    )
            self._inputs[name] = made
        return self._inputs[name]

    def _digest(self, name: str, reads: dict[str, Any], parents: Any) -> str | None:
        inputs = self.inputs(name)
        if inputs is None:
            return None
        return view_digest(inputs, reads, self.ctx.config.vars, self._sources, parents)

    def valid(self, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The digest of the view's cache entry when its inputs are unchanged, and those
        of every view it refs; None otherwise."""
        if name in self._valid:
            return self._valid[name]
        entry = self.cache.entries.get(name)
        digest = None
        if entry is not None and name not in seen:
            parents = {r: self.valid(r, seen | {name}) for r in entry.reads.get("refs", [])}
            found = self._digest(name, entry.reads, parents)
            trusted = name in self.cache.trusted  # parsed by this compile's workers
            digest = found if found == entry.digest or trusted else None
        self._valid[name] = digest
        return digest

    def view(self, name: str) -> FeatureView | None:
        """The view from the cache, or None when it must be parsed."""
        if self.valid(name) is None:
            return None
        self.cache.hits += 1
        return view_from_json(self.cache.entries[name].view)

    def record(self, views: dict[str, FeatureView]) -> None:
        """An entry per view for the next parse: kept as it was for a view that came from
        the cache, made anew (without compiled files yet) for one that was parsed."""
        final: dict[str, str | None] = {}

        def digest(name: str, seen: frozenset[str]) -> str | None:
            if name in final:
                return final[name]
            view = views.get(name)
            result = None
            if view is not None and name not in seen and view.output_columns is not None:
                reads = self._reads(name, view)
                parents = {r: digest(r, seen | {name}) for r in view.refs}
                valid = self._valid.get(name)
                # A view from the cache has the digest it was checked with.
                result = valid if valid is not None else self._digest(name, reads, parents)
                if result is not None:
                    old = self.cache.entries.get(name)
                    hit = old is not None and self._valid.get(name) == result
                    if hit and old is not None:
                        self.cache.fresh[name] = Entry(result, old.reads, old.view, old.files)
                    else:
                        self.cache.fresh[name] = Entry(result, reads, view_to_json(view))
            final[name] = result
            return result

        for name in views:
            digest(name, frozenset())

    def _reads(self, name: str, view: FeatureView) -> dict[str, Any]:
        """What the view's rendering read: its cache entry's, or the parse's."""
        entry = self.cache.entries.get(name)
        if name not in self.ctx.reads and entry is not None:
            return entry.reads
        reads = self.ctx.reads.get(name, {"vars": [], "env": []})
        return {
            "vars": reads["vars"],
            "env": reads["env"],
            "sources": [f"{s}.{t}" for s, t in view.sources],
            "refs": list(view.refs),
        }


def _entity(entity: Entity | None) -> Any:
    return None if entity is None else [entity.name, list(entity.join_keys)]

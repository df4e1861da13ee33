"""Building view tables in DAG order, recording what each was built from.

Each build's definition (content hash) and inputs (fingerprints of its sources and
parents' data versions, see fsql.execute.inputs) are kept in an `fsql_build_state`
table inside the offline engine (not in target/), so a fresh checkout in CI knows which
tables are current, every command that reads a view first rebuilds the views that are
stale (and says why), and an `incremental` view is merged into only while its table is
of the current definition. A `materialized: view` view is a SQL view: computed when read,
never stale, recreated only when its definition changes.

Size: one class, the build loop with its state records and transaction handling;
splitting it would separate a build's write from the state row that describes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from fsql.adapters.base import OfflineAdapter
from fsql.compile.build_state import (
    STATE_COLUMNS,
    STATE_TABLE,
    state_ddl,
    state_drop,
    state_select,
    state_upsert,
)
from fsql.compile.plan import CompiledProject, ViewPlan
from fsql.compile.statements import drop
from fsql.compile.views import merge_into, missing_column_error, model_columns_query
from fsql.config.secrets import scrub
from fsql.definitions.models import FeatureView
from fsql.errors import ProjectError, RunError
from fsql.execute.inputs import InputFingerprints, changed_inputs, data_version

Progress = Callable[[str], None]
NEVER = "never built"


@dataclass(frozen=True)
class BuildRecord:
    """What a view's table was last built from.

    `data_version` changes whenever the table's contents may have changed (a new
    definition or new inputs). `base_version` changes only when the table was rebuilt in
    full: an `incremental` view's merges keep it, so online rows materialized since the
    last full build are still a valid base for incremental materialization; for every
    other view it equals `data_version`.
    """

    view: str
    content_hash: str
    inputs: dict[str, str]
    data_version: str
    base_version: str
    materialized: str = "table"


def _state_upsert(record: BuildRecord) -> exp.Merge:
    """One statement that records `record` (fsql.compile.build_state.state_upsert)."""
    return state_upsert(
        {
            "view_name": record.view,
            "content_hash": record.content_hash,
            "inputs": json.dumps(record.inputs, sort_keys=True),
            "data_version": record.data_version,
            "base_version": record.base_version,
            "materialized": record.materialized,
        }
    )


def _is_view(materialized: str) -> bool:
    return materialized == "view"


class ViewBuilder:
    """Builds view tables on one adapter for one compiled project."""

    def __init__(
        self,
        adapter: OfflineAdapter,
        compiled: CompiledProject,
        fingerprints: InputFingerprints | None = None,
    ) -> None:
        self.adapter = adapter
        self.compiled = compiled
        self.fingerprints = fingerprints or InputFingerprints(adapter, compiled.project)
        self._ready = False

    def _sql(self, expression: exp.Expression) -> str:
        return self.compiled.sql(expression)

    def _ensure_state(self) -> None:
        if self._ready:
            return
        schema = self.adapter.table_schema(STATE_TABLE)
        if schema is not None:
            have = {name.casefold() for name in schema.names}
            if any(name not in have for name, _ in STATE_COLUMNS):
                self.adapter.execute(self._sql(state_drop()))
        self.adapter.execute(self._sql(state_ddl()))
        self._ready = True

    def records(self) -> dict[str, BuildRecord]:
        """view -> what its table was last built from."""
        self._ensure_state()
        table = self.adapter.fetch_arrow(self._sql(state_select()))
        out = {}
        for row in table.to_pylist():
            row = {k.casefold(): v for k, v in row.items()}
            try:
                inputs = json.loads(row["inputs"] or "{}")
            except ValueError:
                inputs = {}
            out[row["view_name"]] = BuildRecord(
                row["view_name"],
                row["content_hash"] or "",
                inputs,
                row["data_version"] or "",
                row["base_version"] or "",
                row["materialized"] or "table",
            )
        return out

    def built_hashes(self) -> dict[str, str]:
        """view -> content hash of the definition its table was last built from."""
        return {name: r.content_hash for name, r in self.records().items()}

    def _exists(self, name: str) -> bool:
        return self.adapter.table_schema(name) is not None

    def _with_ancestors(self, views: Sequence[str]) -> list[str]:
        project = self.compiled.project
        wanted: set[str] = set()
        stack = list(views)
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(project.views[name].refs)
        return [name for name in project.views if name in wanted]  # DAG order

    def versions(
        self, views: Sequence[str], records: Mapping[str, BuildRecord] | None = None
    ) -> dict[str, str]:
        """The current data version of `views` and their ancestors: for a `view`
        (computed when read) from its inputs now, for a table from its last build."""
        records = self.records() if records is None else records
        out: dict[str, str] = {}
        for name in self._with_ancestors(views):
            view = self.compiled.project.views[name]
            if view.materialized == "view":
                out[name] = data_version(view, self.fingerprints.of(view, out))
            else:
                record = records.get(name)
                out[name] = record.data_version if record is not None else NEVER
        return out

    def base_version(self, name: str) -> str:
        """The base version online rows of `name` are materialized from (BuildRecord)."""
        view = self.compiled.project.views[name]
        if view.materialized == "view":
            return self.versions([name])[name]
        record = self.records().get(name)
        return record.base_version if record is not None else NEVER

    def stale(self, views: Sequence[str]) -> list[tuple[str, str]]:
        """Views (with their ancestors) that must be built before they are read, each
        with the reason: never built, a new definition, a missing table, or inputs that
        changed since the build (a `view` is computed when read: only its definition
        counts). In DAG order."""
        project = self.compiled.project
        records = self.records()
        versions: dict[str, str] = {}
        out: list[tuple[str, str]] = []
        for name in self._with_ancestors(views):
            view = project.views[name]
            inputs = self.fingerprints.of(view, versions)
            versions[name] = data_version(view, inputs)
            record = records.get(name)
            if record is None:
                reason = NEVER
            elif record.content_hash != view.content_hash:
                reason = "definition changed"
            elif not self._exists(name):
                reason = "table missing" if view.materialized != "view" else "view missing"
            elif view.materialized != "view" and record.inputs != inputs:
                reason = "input changed: " + ", ".join(changed_inputs(record.inputs, inputs))
            else:
                continue
            out.append((name, reason))
        return out

    def _transaction(self, statements: Sequence[str]) -> None:
        """Run `statements` as one transaction where the engine has them; where it has
        not (BigQuery), one by one, in order: the write, then the state row, so a failure
        part-way leaves the view stale (rebuilt next time), never marked current for a
        table it does not have. A failure rolls the transaction back
        (OfflineAdapter.transaction)."""
        with self.adapter.transaction():
            for sql in statements:
                self.adapter.execute(sql)

    def _full_reason(
        self,
        view: FeatureView,
        records: Mapping[str, BuildRecord],
        redefined: set[str],
        full_refresh: bool,
    ) -> str | None:
        """Why `view`'s rows cannot be trusted as a base for new ones, or None.

        A MERGE only adds to what the table holds, so the table must have been built from
        this definition over parents whose history has not been rewritten. A parent that
        is merged into, or a `table` view rebuilt with its definition unchanged (a routine
        refresh, like a source table being loaded), leaves that history as it was.
        """
        if full_refresh:
            return "--full-refresh"
        record = records.get(view.name)
        if record is None:
            return NEVER
        # Only a table about to be merged into must exist: a `table` view is replaced anyway.
        if view.materialized == "incremental" and not self._exists(view.name):
            return NEVER
        if record.content_hash != view.content_hash:
            return "definition changed"
        if any(parent in redefined for parent in view.refs):
            return "parent rebuilt"
        return None

    def _merge_sql(self, plan: ViewPlan) -> str:
        """The compiled MERGE, or, for a model selecting `*`, one over the table's columns."""
        if plan.view.output_columns:
            return plan.sql("merge")
        schema = self.adapter.table_schema(plan.view.name)
        columns = schema.names if schema is not None else None
        merge = merge_into(plan.view, self.compiled.relations, columns)
        return self.compiled.sql(merge, pretty=True)

    def build(
        self,
        views: Sequence[str],
        progress: Progress | None = None,
        full_refresh: bool = False,
        why: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Build `views` (names, in DAG order); a failure names the view and stops.

        An `incremental` view is merged into when its table was built from the current
        definition and no parent's history was rebuilt in this run; otherwise, and always
        with `full_refresh`, it is rebuilt in full like a `table` view. The state row
        moves in the same transaction as a MERGE, so a failed merge leaves both as they
        were. Each view's inputs are fingerprinted just before it is built, so a source
        that changes during the build makes the view stale again, never current.
        `why` gives a reason to show per view (why it was found stale).
        """
        self._ensure_state()
        records = self.records()
        versions = self.versions([], records)
        redefined: set[str] = set()  # rebuilt in full for a reason: children cannot merge
        built = []
        total = len(views)
        for index, name in enumerate(views, start=1):
            plan = self.compiled.plans[name]
            view = plan.view
            for parent in view.refs:
                if parent not in versions:
                    versions.update(self.versions([parent], records))
            inputs = self.fingerprints.of(view, versions)
            version = data_version(view, inputs)
            reason = self._full_reason(view, records, redefined, full_refresh)
            merge = plan.merge is not None and reason is None
            if reason is not None:
                redefined.add(name)
            previous = records.get(name)
            base = previous.base_version if merge and previous is not None else version
            record = BuildRecord(name, view.content_hash, inputs, version, base, view.materialized)
            if progress:
                progress(f"[{index}/{total}] building {name}{self._how(plan, merge, reason, why)}")
            if previous is not None and _is_view(previous.materialized) != _is_view(
                view.materialized
            ):
                self._drop(name, previous.materialized)  # a view cannot replace a table
            self._build_one(plan, merge, record)
            records[name] = record
            versions[name] = version
            built.append(name)
        return built

    @staticmethod
    def _how(plan: ViewPlan, merge: bool, reason: str | None, why: Mapping[str, str] | None) -> str:
        stale = (why or {}).get(plan.view.name)
        parts = [stale] if stale else []
        if plan.view.materialized == "view":
            parts.append("as a view")
        elif plan.merge is not None:
            if merge:
                parts.append("incremental merge")
                if stale and stale.startswith("input changed"):
                    parts.append(
                        "rows rewritten or deleted in its inputs need fsql run --full-refresh"
                    )
            else:
                parts.append(f"full: {reason}")
        return f" ({'; '.join(parts)})" if parts else ""

    def _drop(self, name: str, materialized: str) -> None:
        kind = "VIEW" if _is_view(materialized) else "TABLE"
        self.adapter.execute(self._sql(drop(self.compiled.relations.view_table(name), kind)))

    def _missing_column(self, plan: ViewPlan, merge: bool) -> ProjectError | None:
        """After a failed build: the declared column a `SELECT *` model does not output.

        Loading checks the columns of every model whose columns its SQL makes known; a
        star over a source is known only to the engine, which then fails on the cast of
        the missing column in its own words. Asking the engine for the model's columns
        (no rows) turns that into the project error it is, naming model and column.
        """
        if plan.view.output_columns is not None:
            return None  # checked when the project loaded: the failure is something else
        try:
            probe = model_columns_query(plan.view, self.compiled.relations, incremental=merge)
            columns = self.adapter.fetch_arrow(self._sql(probe)).schema.names
        except Exception:  # the model itself fails: the build's own error says why
            return None
        return missing_column_error(plan.view, columns)

    def _build_one(self, plan: ViewPlan, merge: bool, record: BuildRecord) -> None:
        name = plan.view.name
        state = [self._sql(_state_upsert(record))]
        try:
            if merge:  # DML on every engine: the MERGE and its state row commit together
                self._transaction([self._merge_sql(plan), *state])
            elif self.adapter.transactional_ddl:
                self._transaction([plan.sql("create"), *state])
            else:  # the table first; its state row only once the table is there
                self.adapter.execute(plan.sql("create"))
                self._transaction(state)
        except Exception as err:  # the driver's own error types vary by engine
            missing = self._missing_column(plan, merge)
            if missing is not None:
                raise missing from None
            first = scrub(str(err)).strip().splitlines()[0] if str(err).strip() else repr(err)
            file = "table_incremental.sql" if merge else "table.sql"
            raise RunError(
                f"view '{name}' failed to build: {first}",
                file=plan.view.sql_path,
                hint=f"see target/compiled/{self.compiled.dialect.name}/{name}/{file}",
            ) from err

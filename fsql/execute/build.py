"""Building view tables in DAG order, recording which definition each was built from.

Each built view's content hash is kept in an `fsql_build_state` table inside the
offline engine (not in target/), so a fresh checkout in CI knows which tables are
current, a training set can rebuild just the views that are missing or stale, and
an `incremental` view is merged into only while its table is of the current definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlglot import exp

from fsql.adapters.base import OfflineAdapter
from fsql.compile.plan import CompiledProject, ViewPlan
from fsql.compile.views import MERGE_SOURCE, MERGE_TARGET, merge_into, upsert
from fsql.config.secrets import scrub
from fsql.definitions.models import FeatureView
from fsql.errors import RunError

STATE_TABLE = "fsql_build_state"
Progress = Callable[[str], None]


def _state_ddl() -> exp.Create:
    return exp.Create(
        this=exp.Schema(
            this=exp.to_table(STATE_TABLE),
            expressions=[
                # No PRIMARY KEY: BigQuery accepts one only NOT ENFORCED; a view's row is
                # deleted and re-inserted together, so there is one row per view anyway.
                exp.ColumnDef(
                    this=exp.to_identifier("view_name"), kind=exp.DataType.build("VARCHAR")
                ),
                exp.ColumnDef(
                    this=exp.to_identifier("content_hash"), kind=exp.DataType.build("VARCHAR")
                ),
                exp.ColumnDef(
                    this=exp.to_identifier("built_at"), kind=exp.DataType.build("TIMESTAMPTZ")
                ),
            ],
        ),
        kind="TABLE",
        exists=True,
    )


def _state_upsert(view: str, content_hash: str) -> exp.Merge:
    """One statement that records `view` as built from `content_hash`, now.

    A MERGE rather than DELETE + INSERT: atomic on its own on every engine (BigQuery has
    transactions only inside scripts), and the local BigQuery emulator has no DELETE."""
    row = exp.select(
        exp.alias_(exp.Literal.string(view), "view_name"),
        exp.alias_(exp.Literal.string(content_hash), "content_hash"),
        exp.alias_(exp.CurrentTimestamp(), "built_at"),
    )
    on = exp.EQ(
        this=exp.column("view_name", MERGE_TARGET), expression=exp.column("view_name", MERGE_SOURCE)
    )
    columns = ("view_name", "content_hash", "built_at")
    return upsert(exp.to_table(STATE_TABLE), row, on, columns, {"view_name"})


class ViewBuilder:
    """Builds view tables on one adapter for one compiled project."""

    def __init__(self, adapter: OfflineAdapter, compiled: CompiledProject) -> None:
        self.adapter = adapter
        self.compiled = compiled
        self._ready = False

    def _sql(self, expression: exp.Expression) -> str:
        return self.compiled.sql(expression)

    def _ensure_state(self) -> None:
        if not self._ready:
            self.adapter.execute(self._sql(_state_ddl()))
            self._ready = True

    def built_hashes(self) -> dict[str, str]:
        """view -> content hash of the definition its table was last built from."""
        self._ensure_state()
        query = exp.select("view_name", "content_hash").from_(STATE_TABLE)
        table = self.adapter.fetch_arrow(self._sql(query))
        return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))

    def stale(self, views: Sequence[str]) -> list[str]:
        """Views (with their ancestors) whose tables are missing or from another definition."""
        project = self.compiled.project
        wanted: set[str] = set()
        stack = list(views)
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(project.views[name].refs)
        hashes = self.built_hashes()
        out = []
        for name in project.views:  # DAG order
            if name not in wanted:
                continue
            parent_rebuilt = any(p in out for p in project.views[name].refs)
            exists = self.adapter.table_schema(name) is not None
            if parent_rebuilt or not exists or hashes.get(name) != project.views[name].content_hash:
                out.append(name)
        return out

    def _transaction(self, statements: Sequence[str]) -> None:
        """Run `statements` as one transaction where the engine has them; where it has
        not (BigQuery), one by one, in order: the write, then the old state row deleted,
        then the new one inserted, so a failure part-way leaves the view without a state
        row (rebuilt next time), never marked current for a table it does not have."""
        if not self.adapter.transactions:
            for sql in statements:
                self.adapter.execute(sql)
            return
        self.adapter.execute("BEGIN TRANSACTION")
        for sql in statements:
            self.adapter.execute(sql)
        self.adapter.execute("COMMIT")

    def _full_reason(
        self,
        view: FeatureView,
        hashes: Mapping[str, str],
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
        built = hashes.get(view.name)
        if built is None:
            return "never built"
        # Only a table about to be merged into must exist: a `table` view is replaced anyway.
        if view.materialized == "incremental" and self.adapter.table_schema(view.name) is None:
            return "never built"
        if built != view.content_hash:
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
    ) -> list[str]:
        """Build `views` (names, in DAG order); a failure names the view and stops.

        An `incremental` view is merged into when its table was built from the current
        definition and no parent's history was rebuilt in this run; otherwise, and always
        with `full_refresh`, it is rebuilt in full like a `table` view. The state row
        moves in the same transaction as a MERGE, so a failed merge leaves both as they were.
        """
        self._ensure_state()
        hashes = self.built_hashes()
        redefined: set[str] = set()  # rebuilt in full for a reason: children cannot merge
        built = []
        total = len(views)
        for index, name in enumerate(views, start=1):
            plan = self.compiled.plans[name]
            reason = self._full_reason(plan.view, hashes, redefined, full_refresh)
            merge = plan.merge is not None and reason is None
            if reason is not None:
                redefined.add(name)
            if progress:
                how = ""
                if plan.merge is not None:
                    how = " (incremental merge)" if merge else f" (full: {reason})"
                progress(f"[{index}/{total}] building {name}{how}")
            state = [self._sql(_state_upsert(name, plan.view.content_hash))]
            try:
                if merge:  # DML on every engine: the MERGE and its state row commit together
                    self._transaction([self._merge_sql(plan), *state])
                elif self.adapter.transactional_ddl:
                    self._transaction([plan.sql("create"), *state])
                else:  # the table first; its state row only once the table is there
                    self.adapter.execute(plan.sql("create"))
                    self._transaction(state)
            except Exception as err:  # the driver's own error types vary by engine
                if self.adapter.transactions:
                    try:
                        self.adapter.execute("ROLLBACK")
                    except Exception:
                        pass
                first = scrub(str(err)).strip().splitlines()[0] if str(err).strip() else repr(err)
                file = "table_incremental.sql" if merge else "table.sql"
                raise RunError(
                    f"view '{name}' failed to build: {first}",
                    file=plan.view.sql_path,
                    hint=f"see target/compiled/{self.compiled.dialect.name}/{name}/{file}",
                ) from err
            built.append(name)
        return built

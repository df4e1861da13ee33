"""Building view tables in DAG order, recording which definition each was built from.

Each built view's content hash is kept in an `fsql_build_state` table inside the
offline engine (not in target/), so a fresh checkout in CI knows which tables are
current, and a training set can rebuild just the views that are missing or stale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlglot import exp

from fsql.adapters.base import OfflineAdapter
from fsql.compile.plan import CompiledProject
from fsql.config.secrets import scrub
from fsql.errors import RunError

STATE_TABLE = "fsql_build_state"
Progress = Callable[[str], None]


def _state_ddl() -> exp.Create:
    return exp.Create(
        this=exp.Schema(
            this=exp.to_table(STATE_TABLE),
            expressions=[
                exp.ColumnDef(
                    this=exp.to_identifier("view_name"),
                    kind=exp.DataType.build("VARCHAR"),
                    constraints=[exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint())],
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
        self.adapter.execute("BEGIN TRANSACTION")
        for sql in statements:
            self.adapter.execute(sql)
        self.adapter.execute("COMMIT")

    def build(self, views: Sequence[str], progress: Progress | None = None) -> list[str]:
        """Build `views` (names, in DAG order); a failure names the view and stops."""
        self._ensure_state()
        built = []
        total = len(views)
        for index, name in enumerate(views, start=1):
            plan = self.compiled.plans[name]
            if progress:
                progress(f"[{index}/{total}] building {name}")
            statements = [plan.sql("create")]
            record = exp.insert(
                exp.select(
                    exp.Literal.string(name),
                    exp.Literal.string(plan.view.content_hash),
                    exp.CurrentTimestamp(),
                ),
                STATE_TABLE,
                overwrite=False,
            )
            delete = exp.delete(
                STATE_TABLE,
                where=exp.EQ(this=exp.column("view_name"), expression=exp.Literal.string(name)),
            )
            state = [self._sql(delete), self._sql(record)]
            try:
                if self.adapter.transactional_ddl:
                    self._transaction([*statements, *state])
                else:  # the table first; its state row only once the table is there
                    for sql in statements:
                        self.adapter.execute(sql)
                    self._transaction(state)
            except Exception as err:  # the driver's own error types vary by engine
                try:
                    self.adapter.execute("ROLLBACK")
                except Exception:
                    pass
                first = scrub(str(err)).strip().splitlines()[0] if str(err).strip() else repr(err)
                raise RunError(
                    f"view '{name}' failed to build: {first}",
                    file=plan.view.sql_path,
                    hint=f"see target/compiled/{self.compiled.dialect.name}/{name}/table.sql",
                ) from err
            built.append(name)
        return built

"""FeatureStore: the Python API, wiring project, compiler, engine and online store.

A store parses the project once when it is built (a store for reads may load the
project's snapshot instead) and compiles it on first use; afterwards reads only look up
cached plans and pooled connections, so a serving process builds one store and reuses
it. This module holds no SQL of its own.

Size: the public API (FeatureStore, RetrievalJob) is one facade over the packages below;
each method is a few lines of orchestration, the length is their number.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsql.compile.selection import resolve_features
from fsql.config.profiles import Target, load_target
from fsql.config.project_file import load_project_config
from fsql.config.secrets import scrub
from fsql.defaults import EVENT_TIMESTAMP, MATERIALIZE_MEMORY_MB, SKEW_THRESHOLD
from fsql.definitions.models import FeatureRef, FeatureView, Project
from fsql.definitions.moments import moment
from fsql.definitions.types import FeatureType
from fsql.errors import ProjectError, RunError
from fsql.graph.selector import select_views
from fsql.online.base import OnlineStore, OnlineTable
from fsql.online.on_demand_eval import OnDemandEvaluator
from fsql.online.open import online_table, open_online
from fsql.online.serving import OnlineResponse, read_online
from fsql.online.times import datetime_to_us
from fsql.project.snapshot import Inputs, project_for_reads

# Imported with this module: what building a store and reading online values need, and
# the modules whose constants are default arguments below. Engine, training-set, push,
# freshness and parity code is imported by the methods that use it, so that a short-lived
# process (`fsql get-online`) does not load it.
if TYPE_CHECKING:
    import pyarrow as pa

    from fsql.adapters.base import OfflineAdapter
    from fsql.compile.plan import CompiledProject
    from fsql.compile.selection import FeatureSelection
    from fsql.dialects.base import EngineDialect
    from fsql.execute.build import ViewBuilder
    from fsql.execute.feature_logger import FeatureLogger
    from fsql.execute.training import TrainingSet
    from fsql.monitor.skew import SkewReport
    from fsql.online.freshness import FreshnessRow
    from fsql.online.materialize import MaterializeResult
    from fsql.online.parity import ParityReport

Progress = Callable[[str], None]
_LOG = logging.getLogger("fsql")


class RetrievalJob:
    """A training set to be computed: `.sql` is known at once, the data on first use."""

    def __init__(
        self,
        store: FeatureStore,
        entities: pa.Table,
        selection: FeatureSelection,
        where: str,
        timestamp_column: str = EVENT_TIMESTAMP,
        feature_service: str | None = None,
        full_feature_names: bool = False,
    ) -> None:
        from fsql.execute.training import compile_training_sql

        self._store = store
        self._entities = entities
        self.selection = selection
        self._where = where
        self.timestamp_column = timestamp_column
        self.feature_service = feature_service
        self.full_feature_names = full_feature_names
        # Where the entity rows came from, for the sidecar: a file path, {"sql": query}
        # (set by the CLI for --entities-sql), or the kind of in-memory table.
        self.entities_source: Any = where
        self._result: TrainingSet | None = None
        self._sql = compile_training_sql(store.compiled, selection.items, selection)

    @property
    def sql(self) -> str:
        """The join's SQL; once run, the SQL that ran (it also reads the push logs of
        views that have one, which only the engine can tell)."""
        return self._result.sql if self._result is not None else self._sql

    def _run(self) -> TrainingSet:
        if self._result is None:
            self._result = self._store._training_set(
                self._entities, self.selection, self._where, self.timestamp_column
            )
        return self._result

    def to_arrow(self) -> pa.Table:
        return self._run().table

    def to_df(self) -> Any:
        return self.to_arrow().to_pandas()

    def to_parquet(self, path: str | Path) -> Path:
        """Write the training set to a parquet file with its `.meta.json` (see `write`)."""
        return self.write(path)

    def write(self, path: str | Path) -> Path:
        """Write the training set to `path` (.parquet or .csv) and `path.meta.json`: what
        produced it (target, feature refs, each view's content hash, the SQL that ran)
        plus the data file's size and sha256, so the pair can be checked when read
        (`fsql.execute.outputs.read_training_meta`). Returns the data file's path."""
        from fsql.execute.outputs import output_format, write_training_set

        out = Path(path)
        output_format(out)  # a wrong suffix fails before the join runs
        table = self.to_arrow()
        write_training_set(table, out, self.metadata())
        return out

    def metadata(self) -> dict[str, Any]:
        """The sidecar's content (computes the training set if it has not run yet)."""
        table = self.to_arrow()
        store = self._store
        return {
            "run_at": datetime.now(UTC).isoformat(),
            "target": {
                "name": store.target.name,
                "offline": store.target.offline_type,
                "online": store.target.online_type,
            },
            "entities": self.entities_source,
            "timestamp_column": self.timestamp_column,
            "feature_service": self.feature_service,
            "features": list(self.selection.refs),
            "columns": list(self.selection.columns),
            "full_feature_names": self.full_feature_names,
            "views": {n: v.content_hash for n, v in store.project.views.items()},
            "row_count": table.num_rows,
            "sql": self.sql,
        }

    @property
    def row_count(self) -> int:
        return self.to_arrow().num_rows


@dataclass(frozen=True)
class DryRun:
    """What a view's build would scan, as the engine estimates it before running."""

    view: str
    bytes_processed: int


class FeatureStore:
    """One project on one target: training sets, materialization and online reads.

    `for_reads=True` (`fsql get-online`): the store reads online values and does nothing
    else, so its project may come from the snapshot in target/ (fsql.project.snapshot)
    instead of a parse; its views then hold no SQL, and compiling one raises."""

    def __init__(
        self,
        project_dir: str | Path = ".",
        target: str | None = None,
        profiles_dir: str | Path | None = None,
        vars: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        hold_offline: bool = True,
        materialize_memory_mb: int = MATERIALIZE_MEMORY_MB,
        partition_keys: int | None = None,
        for_reads: bool = False,
    ) -> None:
        # Where the store says what it does unasked (stale views rebuilt before a read):
        # the CLI prints it on stderr; the API logs it on the `fsql` logger.
        self.progress: Progress = progress or _LOG.info
        # The profile first: rendering it registers its secrets, so that no model can
        # read one through env_var() (models are rendered by load_project).
        # A store for reads checks the dialect only when it parses (the snapshot is of a
        # parse that checked it).
        config = load_project_config(
            Path(project_dir), dict(vars or {}), check_dialect=not for_reads
        )
        self.target: Target = load_target(config.root, config.profile, target, profiles_dir)
        if for_reads:
            self.project: Project = project_for_reads(
                Inputs(project_dir, target, profiles_dir, dict(vars or {})),
                config.root / config.target_path,
            )
        else:
            from fsql.project.load import load_project

            self.project = load_project(project_dir, dict(vars or {}))
        self._compiled: CompiledProject | None = None
        self.dag = self.project.dag
        self._tables: dict[str, OnlineTable] = {
            v.name: online_table(v) for v in self.project.views.values()
        }
        self._selections: dict[tuple[tuple[str | FeatureRef, ...], bool], FeatureSelection] = {}
        # On-demand features at serving time: one in-memory DuckDB connection, shared.
        self._on_demand = OnDemandEvaluator()
        self._lock = threading.RLock()
        self._offline: OfflineAdapter | None = None
        self._online: OnlineStore | None = None
        # False (the feature server): the offline engine is closed after each task that
        # wrote to it, so that a long-lived process never holds a DuckDB file.
        self._hold_offline = hold_offline
        self._logger: FeatureLogger | None = None
        # Materialization reads a view's latest rows within this engine memory, in
        # key-hash partitions of as many keys as it holds, or of `partition_keys`
        # (fsql.online.materialize.partitions).
        if materialize_memory_mb < 64 or (partition_keys is not None and partition_keys < 1):
            raise ProjectError(
                "materialize_memory_mb must be at least 64 and partition_keys at least 1"
            )
        self.materialize_memory_mb = materialize_memory_mb
        self.partition_keys = partition_keys

    @functools.cached_property
    def dialect(self) -> EngineDialect:
        """The target engine's dialect (its module loaded on first use: reads need none)."""
        from fsql.dialects.targets import target_dialect

        return target_dialect(self.target)

    @property
    def compiled(self) -> CompiledProject:
        """The project compiled for the target (its view plans built on first use)."""
        compiled = self._compiled
        if compiled is None:
            from fsql.compile.plan import compile_project
            from fsql.dialects.targets import location_args, table_location

            with self._lock:
                if self._compiled is None:
                    self._compiled = compile_project(
                        self.project,
                        self.dialect,
                        *location_args(table_location(self.target, self.dialect)),
                        file_root=self.project.root,  # file sources are the project's
                    )
                compiled = self._compiled
        return compiled

    # -- connections (opened lazily, kept for the store's life) ---------------------------------

    @property
    def offline(self) -> OfflineAdapter:
        with self._lock:
            if self._offline is None:
                from fsql.adapters.base import open_offline

                try:
                    self._offline = open_offline(
                        self.target.offline, self.project.root, self.target.file, self.progress
                    )
                except (ProjectError, RunError):
                    raise  # already one clear line, with its own exit code
                except Exception as err:
                    raise RunError(
                        f"cannot open the offline engine: {scrub(str(err))}",
                        file=self.target.file,
                    ) from err
            return self._offline

    @property
    def online(self) -> OnlineStore:
        store = self._online
        if store is not None:  # reads take no lock: the feature log's writer may hold it
            return store
        with self._lock:
            if self._online is None:
                self._online = open_online(self.target.online, self.project.root, self.project.name)
            return self._online

    def orphans(self) -> list[str]:
        """Views the online store holds values or run state of that the project no longer
        defines (deleted or renamed): candidates for `teardown`."""
        return [name for name in self.online.stored_views() if name not in self.project.views]

    def teardown(self, views: Sequence[str]) -> list[str]:
        """Remove the online values (live and pending) and run state of `views`, project
        views or orphans; returns them. A name that is neither is an error, and then
        nothing is removed."""
        stored = set(self.online.stored_views())
        unknown = [v for v in views if v not in self.project.views and v not in stored]
        if unknown:
            raise ProjectError(
                f"teardown: no view named {', '.join(repr(v) for v in unknown)} in the project "
                "or the online store",
                hint="fsql ls lists the project's views, fsql ls --orphans the others",
            )
        with self._lock:
            for name in views:
                self.online.teardown(self._tables.get(name) or OnlineTable(name, (), ()))
        return list(views)

    def release_offline(self) -> None:
        """Close the offline engine's connection; the next use opens it again. A long-lived
        process (the feature server) calls it after each offline task, so that it never
        holds a DuckDB file, which one process at a time may open, between requests."""
        with self._lock:
            if self._offline is not None:
                self._offline.close()
                self._offline = None

    def close(self) -> None:
        logger = self._logger
        if logger is not None:
            logger.close()
        with self._lock:
            if self._offline is not None:
                self._offline.close()
                self._offline = None
            if self._online is not None:
                self._online.close()
                self._online = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- selection ------------------------------------------------------------------------------

    def select(self, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> tuple[str, ...]:
        tags = {v.name: v.tags for v in self.project.views.values()}
        return select_views(self.dag, tags, select, exclude)

    def feature_selection(
        self,
        features: Sequence[str | FeatureRef] | None = None,
        feature_service: str | None = None,
        full_feature_names: bool = False,
    ) -> FeatureSelection:
        if feature_service is not None:
            service = self.project.services.get(feature_service)
            if service is None:
                known = ", ".join(sorted(self.project.services)) or "none"
                raise ProjectError(
                    f"no feature service named '{feature_service}'", hint=f"known: {known}"
                )
            refs: tuple[str | FeatureRef, ...] = service.features
        else:
            refs = tuple(features or ())
        key = (refs, full_feature_names)
        cached = self._selections.get(key)
        if cached is None:
            cached = resolve_features(self.project, refs, full_feature_names)
            self._selections[key] = cached
        return cached

    # -- offline --------------------------------------------------------------------------------

    def build(
        self, views: Sequence[str], progress: Progress | None = None, full_refresh: bool = False
    ) -> list[str]:
        """Build the given views' tables (in DAG order).

        `incremental` views whose tables are current are merged into; `full_refresh`
        rebuilds them in full instead, as dbt's `--full-refresh` does.
        """
        from fsql.execute.build import ViewBuilder

        with self._lock:
            return ViewBuilder(self.offline, self.compiled).build(views, progress, full_refresh)

    def ensure_built(self, views: Sequence[str], progress: Progress | None = None) -> list[str]:
        """Build the views (and ancestors) whose tables are missing or stale: never
        built, of another definition, or built from inputs that changed since. Each is
        announced with its reason (`progress`, else the store's), so no command reads a
        stale table silently."""
        from fsql.execute.build import ViewBuilder

        with self._lock:
            builder = ViewBuilder(self.offline, self.compiled)
            stale = builder.stale(views)
            return builder.build(
                [name for name, _ in stale], progress or self.progress, why=dict(stale)
            )

    def entities_from_sql(self, query: str) -> pa.Table:
        """Run a user query (project dialect) on the offline engine as the entity table:
        one SELECT that writes nothing, checked before it runs (`entity_query`)."""
        from fsql.execute.entities import entity_query

        sql = entity_query(query, self.project.dialect, self.dialect.sqlglot_dialect)
        try:
            with self._lock:
                return self.offline.fetch_arrow(sql)
        except Exception as err:
            lines = scrub(str(err)).strip().splitlines()
            raise RunError(f"--entities-sql failed: {lines[0] if lines else repr(err)}") from err

    def get_historical_features(
        self,
        entity_df: Any,
        features: Sequence[str | FeatureRef] | None = None,
        feature_service: str | None = None,
        full_feature_names: bool = False,
        timestamp_column: str = EVENT_TIMESTAMP,
    ) -> RetrievalJob:
        """Point-in-time correct features for each entity row (SPEC §2); the entity
        table's time column is `event_timestamp` unless `timestamp_column` names another.
        `features` are `view:feature` or `view` texts, or `FeatureRef`s (one with an
        alias and a key map joins a view through other entity columns)."""
        from fsql.execute.entities import read_table_file, to_arrow

        where = "entity table"
        if isinstance(entity_df, (str, Path)):
            where = str(entity_df)
            entities = read_table_file(entity_df)
        else:
            entities = to_arrow(entity_df)
        selection = self.feature_selection(features, feature_service, full_feature_names)
        return RetrievalJob(
            self,
            entities,
            selection,
            where,
            timestamp_column,
            feature_service,
            full_feature_names,
        )

    def _training_set(
        self, entities: pa.Table, selection: FeatureSelection, where: str, timestamp_column: str
    ) -> TrainingSet:
        from fsql.execute.training import run_training_set

        with self._lock:
            self.ensure_built([item.view.name for item in selection.items])
            return run_training_set(
                self.offline,
                self.compiled,
                entities,
                selection,
                where,
                self.progress,
                timestamp_column,
            )

    # -- online ---------------------------------------------------------------------------------

    def push(self, view: str, data: Any, *, to: str = "online_and_offline") -> int:
        """Write real-time rows of an online view (SPEC §2): to its offline push log,
        which later training sets read, then to the online store, newest wins.

        `data` is a pandas DataFrame, an Arrow table, or a parquet/csv path. Its columns
        are checked against the view before anything is written. Returns rows pushed.
        """
        from fsql.execute.entities import read_table_file, to_arrow

        if to != "online_and_offline":
            raise ProjectError(f"push: to={to!r} is not supported", hint="use 'online_and_offline'")
        definition = self.project.views.get(view)
        if definition is None:
            known = ", ".join(sorted(self._online_views(None))) or "none"
            raise ProjectError(f"no view named '{view}' to push to", hint=f"online views: {known}")
        if not definition.online:
            raise ProjectError(
                f"view '{view}' is not online: only online views can be pushed",
                file=definition.yml_path,
                hint="set online: true on the view",
            )
        if not self.dialect.persistent(self.target.offline):
            raise ProjectError(
                f"push to view '{view}': the offline engine is an in-memory DuckDB, so the "
                "push log would vanish with this process (served online, never trained on)",
                file=self.target.file,
                hint="give the target's offline block a path, e.g. path: target/fsql.duckdb",
            )
        if isinstance(data, (str, Path)):
            where, table = str(data), read_table_file(data, "push file")
        else:
            where, table = f"rows pushed to view '{view}'", to_arrow(data)
        with self._lock:
            try:
                return self._push(definition, table, where)
            finally:
                self._done_offline()

    def _push(self, view: FeatureView, data: pa.Table, where: str) -> int:
        """Check, then the offline log, then the online store: a row served online is
        always in the log that training sets read (fsql.execute.push)."""
        from fsql.compile.push_log import log_columns
        from fsql.execute.push import append_push_log, check_push_log, prepare_push, row_view
        from fsql.online.push import write_pushed, write_pushed_windows

        adapter, store = self.offline, self.online
        schema = adapter.table_schema(view.name)
        logged_as = row_view(view, schema, where)  # a windowed view logs its rows
        rows, key_types = prepare_push(logged_as, data, schema, where)
        log_exists = check_push_log(adapter, logged_as)
        if rows.num_rows == 0:
            return 0
        table = online_table(view)
        store.check_keys(table, rows, where)  # a key the store cannot hold: nothing written
        logged = append_push_log(
            adapter, self.compiled.relations, logged_as, rows, key_types, log_exists
        )
        if view.aggregations:
            keys = rows.select(list(view.join_keys))
            write_pushed_windows(adapter, store, self.compiled.plans[view.name], table, keys)
        else:
            write_pushed(store, table, view, logged, log_columns(view))
        return rows.num_rows

    def _online_views(self, views: Sequence[str] | None) -> list[str]:
        names = list(views) if views is not None else list(self.project.views)
        return [n for n in names if self.project.views[n].online]

    def materialize(
        self,
        start: datetime | str | None,
        end: datetime | str,
        views: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Write each online view's chosen rows in [start, end] to the online store.
        Times are datetimes (naive = UTC), ISO-8601 strings or "now"."""
        begin = None if start is None else moment(start, "START")
        return self._materialize(views, begin, moment(end, "END"), False, progress)

    def materialize_incremental(
        self,
        end: datetime | str,
        views: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Materialize only rows newer than each view's watermark (minus its lookback)."""
        return self._materialize(views, None, moment(end, "END"), True, progress)

    def _materialize(
        self,
        views: Sequence[str] | None,
        start: datetime | None,
        end: datetime,
        incremental: bool,
        progress: Progress | None,
    ) -> list[MaterializeResult]:
        from fsql.execute.build import ViewBuilder
        from fsql.online.materialize import as_utc

        started = datetime.now(UTC)
        names = self._online_views(views)
        if start is not None:
            start = as_utc(start)
            if start > end:
                raise ProjectError("materialize: START is after END", hint="swap them")
        with self._lock:
            try:
                self.ensure_built(names, progress)
                builder = ViewBuilder(self.offline, self.compiled)
                return [
                    self._materialize_one(builder, name, start, end, incremental, started, progress)
                    for name in names
                ]
            finally:
                self._done_offline()

    def _materialize_one(
        self,
        builder: ViewBuilder,
        name: str,
        start: datetime | None,
        end: datetime,
        incremental: bool,
        started: datetime,
        progress: Progress | None,
    ) -> MaterializeResult:
        from fsql.compile.views import push_log_name
        from fsql.online.materialize import Run as MaterializeRun
        from fsql.online.materialize import materialize_view

        if progress:
            progress(f"materializing {name}")
        run = MaterializeRun(
            end=end,
            started=started,
            incremental=incremental,
            start=start,
            base_version=builder.base_version(name),
            push_log=self.offline.table_schema(push_log_name(name)) is not None,
            memory_mb=self.materialize_memory_mb,
            partition_keys=self.partition_keys,
        )
        return materialize_view(
            self.offline, self.online, self.compiled, name, run, progress=progress
        )

    def run(
        self,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        progress: Progress | None = None,
        end: datetime | str | None = None,
        full_refresh: bool = False,
    ) -> tuple[list[str], list[MaterializeResult]]:
        """Build the selected views in DAG order, then materialize the online ones.

        `full_refresh` rebuilds `incremental` views in full rather than merging new rows.
        """
        from fsql.execute.build import ViewBuilder

        started = datetime.now(UTC)
        names = self.select(select, exclude)
        end = moment(end, "END", now=started) if end is not None else started
        with self._lock:
            # Ancestors left out of the selection are read, not rebuilt: unless stale.
            builder = ViewBuilder(self.offline, self.compiled)
            upstream = [(n, why) for n, why in builder.stale(names) if n not in names]
            if upstream:
                to_build = [n for n, _ in upstream]
                builder.build(to_build, progress or self.progress, why=dict(upstream))
            built = self.build(names, progress, full_refresh)
            builder = ViewBuilder(self.offline, self.compiled)
            results = [
                self._materialize_one(
                    builder,
                    name,
                    None,
                    end,
                    self.project.views[name].materialized == "incremental",
                    started,
                    progress,
                )
                for name in self._online_views(names)
            ]
        return built, results

    def dry_run(self, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[DryRun]:
        """Bytes each selected view's build would process, from the engine's dry run
        (BigQuery: a dry-run job; nothing runs, nothing is billed). A view whose parents
        have no tables yet cannot be planned by the engine: build them first."""
        dry_run_bytes = getattr(self.offline, "dry_run_bytes", None)
        if dry_run_bytes is None:
            raise ProjectError(
                f"--dry-run needs an engine with dry-run jobs; target "
                f"'{self.target.name}' is {self.dialect.name}",
                file=self.target.file,
                hint="use a bigquery target",
            )
        out = []
        for name in self.select(select, exclude):
            try:
                out.append(
                    DryRun(name, int(dry_run_bytes(self.compiled.plans[name].sql("create"))))
                )
            except RunError as err:
                raise RunError(f"dry run of view '{name}': {err.message}", hint=err.hint) from err
        return out

    def freshness(
        self,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        now: datetime | str | None = None,
        check_inputs: bool = True,
    ) -> list[FreshnessRow]:
        """Per selected online view: last materialization, watermark, newest event time
        written, and status against its `schedule` at `now` (default: the current time);
        see fsql.online.freshness for the rules. `check_inputs=False` reads the online
        store only (no note on incremental views' inputs): the feature server's metrics."""
        from fsql.online.freshness import check_freshness

        names = self._online_views(self.select(select, exclude))
        views = [
            (n, self.project.views[n].schedule, self.project.views[n].content_hash) for n in names
        ]
        at = None if now is None else moment(now, "now")
        with self._lock:
            rows = check_freshness(self.online, views, at)
            notes = self._input_notes(
                [
                    n
                    for n in names
                    if check_inputs and self.project.views[n].materialized == "incremental"
                ]
            )
        return [dataclasses.replace(r, note=notes[r.view]) if r.view in notes else r for r in rows]

    def _input_notes(self, views: Sequence[str]) -> dict[str, str]:
        """Incremental views whose inputs changed since their last build: merges read only
        new rows, so rows rewritten or deleted in those inputs need a full refresh. Asks
        the offline engine; when it cannot be opened (say, another process holds a DuckDB
        file), the note says so instead."""
        from fsql.execute.build import ViewBuilder

        if not views:
            return {}
        try:
            stale = ViewBuilder(self.offline, self.compiled).stale(views)
        except (ProjectError, RunError) as err:
            return {v: f"inputs not checked: {err.message}" for v in views}
        return {
            name: f"{why} since the last build; rows rewritten or deleted there need "
            "fsql run --full-refresh"
            for name, why in stale
            if name in views and why.startswith("input changed")
        }

    def parity(
        self,
        sample: int = 1000,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        now: datetime | str | None = None,
    ) -> ParityReport:
        """Shadow-compare online values with the offline point-in-time answer (SPEC §2
        "Monitoring"): for up to `sample` keys of each selected online view, drawn at
        random from its table, the online read at `now` (default: the current time)
        against the training set for the same keys at the same time."""
        import pyarrow as pa

        from fsql.online.parity import ParityReport, ViewParity, compare_view

        if sample < 1:
            raise ProjectError(f"parity: sample must be at least 1, not {sample}")
        at = moment("now" if now is None else now, "now")
        checked = []
        for name in self._online_views(self.select(select, exclude)):
            view = self.project.views[name]
            keys = self._sample_keys(view, sample)
            rows = keys.to_pylist()
            refs = [f"{name}:{f.name}" for f in view.features]
            if not rows:
                checked.append(ViewParity(name, 0))
                continue
            online = self.get_online_features(refs, rows, now=at).to_dict()
            # The entity time column must not be one of the view's keys.
            column = next(c for c in ("parity_time", "parity_at") if c not in view.join_keys)
            at_column = pa.array([at] * len(rows), pa.timestamp("us", "UTC"))
            entities = keys.append_column(column, at_column)
            job = self.get_historical_features(entities, refs, timestamp_column=column)
            offline = job.to_arrow().to_pydict()
            features = [f.name for f in view.features]
            checked.append(compare_view(name, rows, features, online, offline))
        return ParityReport(at, checked)

    def skew(
        self,
        training: str | Path,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        service: str | None = None,
        threshold: float = SKEW_THRESHOLD,
        sample: int = 100_000,
    ) -> SkewReport:
        """Compare each feature of a training set (a file with its `.meta.json`) with the
        values its service served in [start, end) (its feature log): fsql.monitor.skew.
        Both sides are random samples of at most `sample` rows."""
        from fsql.compile.feature_log import feature_log_name, log_sample
        from fsql.execute.entities import read_table_file
        from fsql.execute.outputs import read_training_meta
        from fsql.monitor.skew import SkewReport, compare_feature

        meta = read_training_meta(training)
        name = service or meta.get("feature_service")
        if not name:
            raise ProjectError(
                f"{training} was built from a feature list, not a feature service: skew "
                "compares a service's training set with what the service served",
                hint="pass --service NAME",
            )
        definition = self.project.services.get(name)
        if definition is None:
            raise ProjectError(f"no feature service named '{name}'")
        if definition.log_sample_rate is None:
            raise ProjectError(
                f"feature service '{name}' is not logged: there are no served values to compare",
                file=definition.file,
                line=definition.line,
                hint="add logging: {sample_rate: 0.1} to the service, then serve it",
            )
        declared = self._declared_types(name)
        short = list(declared)
        # A training set with full names: its columns, in the same order, named short.
        trained = read_table_file(training)
        names = dict(zip(meta.get("columns") or short, short, strict=False))
        frame = {names.get(c, c): trained.column(c) for c in trained.column_names}
        bounds = {
            key: moment(value, key)
            for key, value in (("start", start), ("end", end))
            if value is not None
        }
        with self._lock:
            try:
                schema = self.offline.table_schema(feature_log_name(name))
                if schema is None:
                    raise RunError(
                        f"feature service '{name}' has logged nothing yet "
                        f"({feature_log_name(name)} does not exist)",
                        hint="serve the service (fsql serve, get-online --feature-service)",
                    )
                logged = {c.casefold() for c in schema.names}
                features = [c for c in short if c in frame and c.casefold() in logged]
                query = log_sample(
                    name,
                    self.compiled.relations,
                    features,
                    sample,
                    "start" in bounds,
                    "end" in bounds,
                )
                served = self.offline.fetch_arrow(self.dialect.statement(query), bounds)
            finally:
                self._done_offline()
        import numpy as np

        by_name = {c.casefold(): served.column(i) for i, c in enumerate(served.column_names)}
        rows = np.arange(trained.num_rows)
        if trained.num_rows > sample:
            rows = np.sort(np.random.default_rng(0).choice(trained.num_rows, sample, replace=False))
        compared = [
            compare_feature(
                c,
                declared[c],
                frame[c].take(rows).to_pylist(),
                by_name[c.casefold()].to_pylist(),
                threshold,
            )
            for c in features
        ]
        return SkewReport(
            name,
            str(training),
            bounds["start"].isoformat() if "start" in bounds else None,
            bounds["end"].isoformat() if "end" in bounds else None,
            threshold,
            compared,
        )

    def _sample_keys(self, view: FeatureView, sample: int) -> pa.Table:
        from fsql.compile.statements import key_sample

        with self._lock:
            self.ensure_built([view.name])
            table = self.compiled.relations.view_table(view.name)
            query = key_sample(table, view.join_keys, sample)
            return self.offline.fetch_arrow(self.compiled.sql(query))

    def get_online_features(
        self,
        features: Sequence[str | FeatureRef] | None = None,
        entity_rows: Sequence[Mapping[str, Any]] = (),
        feature_service: str | None = None,
        full_feature_names: bool = False,
        *,
        now: datetime | str | None = None,
        statuses: bool = False,
    ) -> OnlineResponse:
        """Latest values per entity row; values older than a view's TTL come back None.

        `now` is the read time (default: the clock): TTLs and the windows of windowed
        aggregations are applied at it (tests, replaying what a request saw). `statuses`
        also gives each value's Feast status and event time (`response.statuses`), as
        the feature server answers."""
        selection = self.feature_selection(features, feature_service, full_feature_names)
        for item in selection.items:
            if not item.view.online:
                raise ProjectError(
                    f"view '{item.view.name}' is not online: it has no online values to read",
                    file=item.view.yml_path,
                    hint="set online: true and run fsql run, or read it with build-training-set",
                )
        now_us = None if now is None else datetime_to_us(moment(now, "now"))
        response = read_online(
            self.online,
            self._tables,
            selection,
            entity_rows,
            now_us=now_us,
            evaluator=self._on_demand,
            timed=statuses,
        )
        service = None if feature_service is None else self.project.services[feature_service]
        if service is not None and service.log_sample_rate is not None:
            request_us = time.time_ns() // 1000 if now_us is None else now_us
            columns = response.columns
            if full_feature_names:  # logged under the service's own names, either way
                short = self.feature_selection(None, service.name, False).columns
                names = dict(zip(selection.columns, short, strict=True))
                columns = {names.get(name, name): values for name, values in columns.items()}
            self.feature_logger.log(service.name, service.log_sample_rate, request_us, columns)
        return response

    @property
    def feature_logger(self) -> FeatureLogger:
        """The queue of served vectors of logged services (`logging:`), written to each
        service's `<service>__log` by a background thread; started on first use."""
        logger = self._logger
        if logger is None:
            with self._lock:
                if self._logger is None:
                    from fsql.execute.feature_logger import FeatureLogger

                    self._logger = FeatureLogger(self._write_feature_log)
                logger = self._logger
        return logger

    def _declared_types(self, service: str) -> dict[str, FeatureType]:
        """The type of each feature column of a service, by its own (short) name."""
        selection = self.feature_selection(None, service, False)
        declared: dict[str, FeatureType] = {
            od.output_name: od.feature.type for od in selection.on_demand
        }
        for item in selection.items:
            types = {f.name: f.type for f in item.view.features}
            declared.update(
                {out: types[f] for f, out in zip(item.features, item.output_names, strict=True)}
            )
        return {name: declared[name] for name in selection.columns}

    def _write_feature_log(
        self, service: str, request_us: list[int], columns: dict[str, list[Any]]
    ) -> None:
        """The feature logger's writer: one batch of one service appended to its log."""
        from fsql.execute.feature_log import append_feature_log, log_table

        rows, types = log_table(service, request_us, columns, self._declared_types(service))
        with self._lock:
            try:
                append_feature_log(self.offline, self.compiled.relations, service, rows, types)
            finally:
                self._done_offline()

    def _done_offline(self) -> None:
        """After a task that used the offline engine: let go of it unless held."""
        if not self._hold_offline:
            self.release_offline()

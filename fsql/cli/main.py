"""`fsql` commands. Each is a few lines over FeatureStore; errors go through one handler.

Size: one module for every command keeps the CLI's surface readable in one place; each
command is a few lines, the length is their number.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from fsql.cli.options import StoreOptions, common, parse_vars, selection, split_list
from fsql.errors import ProjectError
from fsql.version import __version__


def _time(text: str, what: str) -> datetime:
    from fsql.definitions.moments import moment

    return moment(text, what)


def _features_or_service(features: tuple[str, ...], service: str | None) -> list[str]:
    refs = split_list(features)
    if bool(refs) == bool(service):
        raise ProjectError("give exactly one of --features or --feature-service")
    return refs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fsql")
def cli() -> None:
    """fsql: feature views as SQL + YAML; point-in-time training sets and online serving."""


@cli.command("compile")
@common
@click.option(
    "--dry-run",
    is_flag=True,
    help="Also print the bytes each view's build would process (BigQuery dry-run jobs).",
)
def compile_cmd(options: StoreOptions, dry_run: bool) -> None:
    """Parse, validate and compile everything into target/. Touches no database
    (except with --dry-run, which asks the engine for estimates and runs nothing)."""
    from fsql.project.unchanged import unchanged

    given = parse_vars(options.vars)
    current, inputs = unchanged(options.project_dir, options.target, options.profiles_dir, given)
    if current is not None and not dry_run:
        click.echo(f"nothing changed since the last compile: target/ holds {current} views")
        return
    from fsql.compile.parallel import workers
    from fsql.compile.target import compile_to_target

    done = compile_to_target(
        options.project_dir, options.target, options.profiles_dir, given, inputs, workers()
    )
    out = done.target
    cached = done.views - len(done.compiled)
    click.echo(
        f"compiled {done.views} views for {done.dialect} into {out / 'compiled'} and "
        f"{out / 'manifest.json'}"
        + (f" ({cached} unchanged, from target/partial_parse.json)" if cached else "")
    )
    if dry_run:
        with options.open() as store:
            estimates = store.dry_run()
            for estimate in estimates:
                click.echo(f"{estimate.view}: {_size(estimate.bytes_processed)} would be processed")
            total = sum(e.bytes_processed for e in estimates)
            click.echo(f"total: {_size(total)} ({total:,} bytes)")


def _size(count: int) -> str:
    n = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


@cli.command("run")
@common
@selection
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild incremental views in full instead of merging new rows into them.",
)
def run_cmd(
    options: StoreOptions, select: tuple[str, ...], exclude: tuple[str, ...], full_refresh: bool
) -> None:
    """Compile, build view tables in DAG order, then materialize online views."""
    from fsql.compile.writer import write_target

    progress = options.progress()
    keep_snapshot = options.snapshot_keeper()
    with options.open() as store:
        write_target(store.compiled, store.target.name)
        built, results = store.run(
            split_list(select), split_list(exclude), progress=progress, full_refresh=full_refresh
        )
        for result in results:
            progress(f"{result.view}: {result.rows:,} keys written ({result.reason})")
        keep_snapshot(store.project)  # the reads that follow load no parse
    click.echo(f"built {len(built)} views, materialized {len(results)} online views")


@cli.command("build-training-set")
@common
@click.option(
    "--entities",
    "entities_file",
    type=click.Path(dir_okay=False),
    help="Entity rows: a parquet or csv file.",
)
@click.option("--entities-sql", default=None, help="Entity rows: a query on the offline engine.")
@click.option("--features", multiple=True, help="Feature refs view:feature or view.")
@click.option("--feature-service", default=None, help="A feature service name.")
@click.option("--full-feature-names", is_flag=True, help="Name columns view__feature.")
@click.option(
    "--timestamp-column",
    default="event_timestamp",
    show_default=True,
    help="The entity table's time column.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .parquet or .csv (plus FILE.meta.json).",
)
def training_cmd(
    options: StoreOptions,
    entities_file: str | None,
    entities_sql: str | None,
    features: tuple[str, ...],
    feature_service: str | None,
    full_feature_names: bool,
    timestamp_column: str,
    output: str,
) -> None:
    """Write the point-in-time join of entity rows and features."""
    from fsql.execute.outputs import output_format

    if (entities_file is None) == (entities_sql is None):
        raise ProjectError("give exactly one of --entities FILE or --entities-sql QUERY")
    refs = _features_or_service(features, feature_service)
    out = Path(output)
    output_format(out)
    with options.open() as store:
        entities: Any = entities_file or store.entities_from_sql(str(entities_sql))
        job = store.get_historical_features(
            entities,
            features=refs or None,
            feature_service=feature_service,
            full_feature_names=full_feature_names,
            timestamp_column=timestamp_column,
        )
        if entities_sql is not None:
            job.entities_source = {"sql": entities_sql}
        job.write(out)
    click.echo(f"wrote {job.row_count:,} rows to {out}")


@cli.command("materialize")
@common
@selection
@click.argument("start")
@click.argument("end")
def materialize_cmd(
    options: StoreOptions, select: tuple[str, ...], exclude: tuple[str, ...], start: str, end: str
) -> None:
    """Materialize online views over [START, END] (ISO-8601; UTC when no offset)."""
    _materialize(options, select, exclude, _time(start, "START"), _time(end, "END"))


@cli.command("materialize-incremental")
@common
@selection
@click.argument("end")
def materialize_incremental_cmd(
    options: StoreOptions, select: tuple[str, ...], exclude: tuple[str, ...], end: str
) -> None:
    """Materialize rows newer than each online view's watermark, up to END."""
    _materialize(options, select, exclude, None, _time(end, "END"))


def _materialize(
    options: StoreOptions,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    start: datetime | None,
    end: datetime,
) -> None:
    progress = options.progress()
    with options.open() as store:
        views = store.select(split_list(select), split_list(exclude))
        if start is None:
            results = store.materialize_incremental(end, views, progress)
        else:
            results = store.materialize(start, end, views, progress)
    for result in results:
        click.echo(f"{result.view}: {result.rows:,} keys written ({result.reason})")


@cli.command("push")
@common
@click.argument("view")
@click.argument("file", type=click.Path(dir_okay=False))
def push_cmd(options: StoreOptions, view: str, file: str) -> None:
    """Write real-time rows of VIEW from FILE (parquet or csv) to its offline push log
    and the online store (newest wins)."""
    with options.open() as store:
        rows = store.push(view, file)
    click.echo(f"{view}: {rows:,} rows pushed")


def _entity_value(text: str) -> Any:
    """A YAML scalar (`7` is the integer 7, `'7'` the string), but text with spaces at
    either end is kept as it is: those spaces belong to a string key."""
    import yaml

    if text != text.strip() or not text:
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, str, bool)) else text


@cli.command("get-online")
@common
@click.option("--features", multiple=True, help="Feature refs, comma-separated.")
@click.option("--feature-service", default=None, help="A feature service name.")
@click.option(
    "--entity",
    "entity",
    multiple=True,
    help="key=value (repeat for composite keys and several views' keys).",
)
@click.option(
    "--entities",
    "entities_file",
    default=None,
    help="A parquet or csv file of entity rows (keys and request values), read in one call.",
)
@click.option("--full-feature-names", is_flag=True, help="Name columns view__feature.")
@click.option(
    "--now",
    default=None,
    help="Read as of this time (ISO-8601; UTC when no offset) instead of the current time: "
    "TTLs and aggregation windows are applied at it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table", "csv"]),
    default="json",
    show_default=True,
)
def get_online_cmd(
    options: StoreOptions,
    features: tuple[str, ...],
    feature_service: str | None,
    entity: tuple[str, ...],
    entities_file: str | None,
    full_feature_names: bool,
    now: str | None,
    fmt: str,
) -> None:
    """Print online values for one entity row (--entity) or a file of them (--entities)."""
    from fsql.cli.rows_out import render

    if bool(entity) == bool(entities_file):
        raise ProjectError("give --entity key=value (one row) or --entities FILE, not both")
    if entities_file is not None:
        from fsql.execute.entities import read_table_file

        rows = read_table_file(entities_file).to_pylist()
    else:
        rows = [_entity_row(entity)]
    refs = _features_or_service(features, feature_service)
    with options.open(for_reads=True) as store:
        response = store.get_online_features(
            refs or None,
            rows,
            feature_service,
            full_feature_names,
            now=_time(now, "--now") if now is not None else None,
        )
        selection = store.feature_selection(refs or None, feature_service, full_feature_names)
        json_columns = {n for n, t in selection.feature_types.items() if t.kind == "json"}
    click.echo(render(response.columns, fmt, single=entities_file is None, json=json_columns))


def _entity_row(entity: tuple[str, ...]) -> dict[str, Any]:
    """`--entity key=value` options as one entity row."""
    row: dict[str, Any] = {}
    for item in entity:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ProjectError(f"--entity {item!r} must be key=value")
        if key in row:
            raise ProjectError(
                f"--entity {key} is given twice ({row[key]!r} and {value!r})",
                hint="one value per key: a read is one entity row",
            )
        row[key] = _entity_value(value)
    return row


@cli.command("freshness")
@common
@selection
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text: an aligned table; json: a list of objects (ISO-8601 times, seconds).",
)
@click.option(
    "--now",
    default=None,
    help="Judge freshness at this time (ISO-8601; UTC when no offset) instead of the "
    "current time: for tests and alert replays.",
)
def freshness_cmd(
    options: StoreOptions,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    fmt: str,
    now: str | None,
) -> None:
    """Per online view: last materialization, watermark, newest event and age against its
    schedule. Exits 1 when a view is more than 2x its schedule behind or never materialized."""
    from fsql.online.freshness import failure_summary, render_text

    moment = _time(now, "--now") if now is not None else None
    with options.open() as store:
        rows = store.freshness(split_list(select), split_list(exclude), now=moment)
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        click.echo(render_text(rows))
    for row in rows:
        if row.note:
            click.echo(f"note: {row.view}: {row.note}", err=True)
    failing = failure_summary(rows)
    if failing:
        click.echo(failing, err=True)
        sys.exit(1)  # a failed check, not an error: output above, no error handler


@cli.command("teardown")
@common
@click.argument("views", nargs=-1, required=True)
def teardown_cmd(options: StoreOptions, views: tuple[str, ...]) -> None:
    """Remove views' online values and run state (project views, or views deleted from
    the project that `fsql ls --orphans` lists)."""
    with options.open() as store:
        removed = store.teardown(split_list(views))
    click.echo(f"removed the online values and run state of {', '.join(removed)}")


@cli.command("ls")
@common
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--orphans",
    is_flag=True,
    help="List the views the online store holds that the project no longer defines.",
)
def ls_cmd(options: StoreOptions, fmt: str, orphans: bool) -> None:
    """List views, features, services and lineage."""
    from fsql.project.load import load_project

    if orphans:
        with options.open() as store:
            names = store.orphans()
        if fmt == "json":
            click.echo(json.dumps(names))
        else:
            for name in names:
                click.echo(name)
        return

    project = load_project(options.project_dir, parse_vars(options.vars))
    if fmt == "json":
        from fsql.compile.manifest import build_manifest

        manifest = build_manifest(project, options.target or "", "")
        keys = ("entities", "views", "feature_services", "on_demand_features")
        click.echo(json.dumps({k: manifest[k] for k in keys}, indent=2))
        return
    for entity in project.entities.values():
        about = f"  {entity.description}" if entity.description else ""
        click.echo(f"entity {entity.name}  keys: {', '.join(entity.join_keys)}{about}")
    for view in project.views.values():
        ttl = f"ttl {view.metadata()['ttl']}" if view.ttl else None
        tags = [f"tag:{t}" for t in view.tags]
        flags = ", ".join(
            filter(None, ["online" if view.online else "offline", ttl, view.materialized, *tags])
        )
        shown = ", ".join(view.user_keys) or "none (one row per time, joined by time alone)"
        click.echo(f"{view.name}  [{flags}]  keys: {shown}")
        upstream = [*view.refs, *(f"{s}.{t}" for s, t in view.sources)]
        click.echo(f"  <- {', '.join(upstream) or '(none)'}")
        how = {a.name: f" = {a.describe()}" for a in view.aggregations}
        for feature in view.features:
            click.echo(f"  {feature.name}: {feature.type.value}{how.get(feature.name, '')}")
    for service in project.services.values():
        click.echo(f"service {service.name}: {', '.join(str(r) for r in service.features)}")
    for odf in project.on_demand.values():
        formula = odf.expression.sql(dialect=project.dialect)
        needs = [f"{c.name}: {c.type.value}" for c in odf.request_columns]
        parts = [f"request {', '.join(needs)}"] if needs else []
        if odf.inputs:
            parts.append(f"inputs {', '.join(str(r) for r in odf.inputs)}")
        where = f"  ({'; '.join(parts)})" if parts else ""
        click.echo(f"on_demand {odf.name}: {odf.type.value} = {formula}{where}")


@cli.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def init_cmd(folder: Path) -> None:
    """Write a new project into FOLDER (new or empty): a model with its YAML, sample data
    and an entity table, ready for fsql run and build-training-set."""
    from fsql.cli.errors import run_guarded
    from fsql.cli.scaffold import init_project

    files = run_guarded(lambda: init_project(folder), False)
    click.echo(f"created {len(files)} files in {folder}; next:")
    click.echo(f"  cd {folder}")
    click.echo("  fsql run")
    click.echo(
        "  fsql build-training-set --feature-service first_model "
        "--entities data/entities.csv --output target/train.parquet"
    )
    click.echo("  fsql get-online --feature-service first_model --entity customer_id=1")


@cli.command("parity")
@common
@selection
@click.option(
    "--sample",
    default=1000,
    show_default=True,
    type=click.IntRange(1, None),
    help="Keys per online view, drawn at random from its table.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--now",
    default=None,
    help="Compare as of this time (ISO-8601; UTC when no offset) instead of the current time.",
)
def parity_cmd(
    options: StoreOptions,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    sample: int,
    fmt: str,
    now: str | None,
) -> None:
    """Shadow-compare online values with the offline point-in-time answer for a sample of
    keys of each online view. Exits 1 on any difference."""
    from fsql.online.parity import render_text

    with options.open() as store:
        report = store.parity(
            sample,
            split_list(select),
            split_list(exclude),
            now=_time(now, "--now") if now is not None else None,
        )
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_text(report))
    differences = report.differences
    if differences:
        views = sorted({d.view for d in differences})
        click.echo(
            f"parity: {len(differences)} values differ in {', '.join(views)} (online values "
            "older than the data they were built from are fixed by fsql run; others mean "
            "the online store holds what the definitions do not give)",
            err=True,
        )
        sys.exit(1)


@cli.command("skew")
@common
@click.option("--training", required=True, help="A training set file with its .meta.json.")
@click.option("--start", default=None, help="Served from this time (ISO-8601; UTC when no offset).")
@click.option("--end", default=None, help="Served before this time (ISO-8601).")
@click.option("--service", default=None, help="The service (default: the training set's).")
@click.option(
    "--threshold",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Flag a feature when its test's p-value is below this.",
)
@click.option(
    "--sample",
    default=100_000,
    show_default=True,
    type=click.IntRange(2, None),
    help="At most this many rows of each side, drawn at random.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--report", default=None, help="Also write an HTML report with a histogram per feature."
)
def skew_cmd(
    options: StoreOptions,
    training: str,
    start: str | None,
    end: str | None,
    service: str | None,
    threshold: float,
    sample: int,
    fmt: str,
    report: str | None,
) -> None:
    """Compare each feature of a training set with the values its service served (the
    service's feature log): KS for numeric features, chi-square for categorical ones, PSI
    and NULL rates for all. Exits 1 when a feature is flagged."""
    from fsql.monitor.skew import render_text

    with options.open() as store:
        result = store.skew(
            training,
            _time(start, "--start") if start is not None else None,
            _time(end, "--end") if end is not None else None,
            service=service,
            threshold=threshold,
            sample=sample,
        )
    if report is not None:
        from fsql.monitor.report import write_report

        write_report(result, report)
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(render_text(result))
    if not any(f.serving_rows for f in result.features):
        click.echo(
            f"skew: service '{result.service}' logged no rows in the range: nothing to compare",
            err=True,
        )
        sys.exit(1)
    flagged = result.flagged
    if flagged:
        click.echo(
            f"skew: {', '.join(f.feature for f in flagged)} "
            f"(p < {threshold}: training and serving differ)",
            err=True,
        )
        sys.exit(1)


@cli.command("serve")
@common
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=6566, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Server processes, each with its own connections (one per core is plenty).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve_cmd(options: StoreOptions, host: str, port: int, workers: int, log_level: str) -> None:
    """HTTP feature server speaking Feast's protocol: POST /get-online-features, /push,
    /materialize, /materialize-incremental; GET /health, /metrics. Stops on Ctrl-C or
    SIGTERM after in-flight requests finish."""
    from fsql.server.run import Settings, serve

    settings = Settings(
        str(Path(options.project_dir).resolve()),
        options.target,
        None if options.profiles_dir is None else str(Path(options.profiles_dir).resolve()),
        parse_vars(options.vars),
    )
    serve(settings, host, port, workers, log_level)


def main() -> None:
    cli(prog_name="fsql")


if __name__ == "__main__":
    main()

"""Snowflake: native `ASOF JOIN ... MATCH_CONDITION`, or the portable window plan.

Point-in-time joins default to Snowflake's ASOF JOIN, which is left outer and takes
its inequality in MATCH_CONDITION (left table first); `pit_strategy: window` runs the
portable sort-and-fill plan instead. Snowflake cannot compare OBJECTs in an ASOF
condition, so ties on event time are reduced by created time before the join.
Timestamps are TIMESTAMP_TZ and always UTC: the session's TIMEZONE must be UTC, as
DuckDB's is, so that naive source timestamps read as UTC when they are cast.

Identifiers. Snowflake folds unquoted names to upper case and matches quoted names
exactly. fsql keeps one rule: every name is written unquoted, so `user_features` in
YAML, in a model and in fsql's own SQL all name USER_FEATURES, and a lower-case name
keeps working however it is spelled. From that rule:

- a name Snowflake reserves (ORDER, START, ROWS, ...) cannot go unquoted; it is
  quoted in upper case ("ORDER"), the object the unquoted name would have meant;
- models written in a case-insensitive dialect (DuckDB, the default) lose the quotes
  on plain names, since there `"Order"` and `order` are one column; models written in
  Snowflake's own dialect keep their quotes, as do the quoted parts of a source's
  `identifier:` (a Snowflake name, parsed as Snowflake SQL);
- tables fsql uploads (the entity table) need unquoted or upper-case column names,
  and result columns come back upper case: adapters match them case-insensitively.

Statements. Below the declaration are the statements fsql.adapters.snowflake runs besides
compiled plans (upload table, stage, PUT, COPY, drop, describe, the INFORMATION_SCHEMA and
checksum queries of fingerprints), each built as a tree. They
are Snowflake syntax, so they live here rather than in the adapter, which only sends them;
that is why this module is longer than a bare declaration. sqlglot 30.22 builds all of them
(exp.Put, exp.Copy, exp.Create of kind STAGE); the one thing it has no node for, a stage
location `@stage/folder`, is written by `stage_location`, the escape hatch of this dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from sqlglot import exp
from sqlglot.errors import ParseError

from fsql.definitions.types import FeatureType
from fsql.dialects.base import EngineDialect, built_type
from fsql.errors import RunError

# Snowflake's reserved and limited keywords (docs: "Reserved & limited keywords").
# Quoting a name that is not reserved in upper case is harmless, so the list errs long.
RESERVED = frozenset(
    """
    account all alter and any as asof between by case cast check column connect
    connection constraint create cross current current_date current_time
    current_timestamp current_user database delete distinct drop else exists false
    following for from full grant group gscluster having ilike in increment inner
    insert intersect into is issue join lateral left like localtime localtimestamp
    match_condition minus natural not null of on or order organization qualify regexp
    revoke right rlike row rows sample schema select set some start table tablesample
    then to trigger true try_cast union unique update using values view when whenever
    where with
    """.split()
)


def quote_reserved(tree: exp.Expression) -> exp.Expression:
    """Quote unquoted reserved names in upper case: `order` becomes `"ORDER"`."""
    for identifier in tree.find_all(exp.Identifier):
        if not identifier.quoted and identifier.name.lower() in RESERVED:
            identifier.set("this", identifier.name.upper())
            identifier.set("quoted", True)
    return tree


def _epoch_micros(value: exp.Expr) -> exp.Expr:
    """`DATE_PART(EPOCH_MICROSECOND, ts)`: Snowflake has no UNIX_MICROS."""
    return exp.Extract(this=exp.var("EPOCH_MICROSECOND"), expression=value)


SNOWFLAKE = EngineDialect(
    name="snowflake",
    sqlglot_dialect="snowflake",
    pit_strategy="asof",
    pit_strategies=("asof", "window"),
    type_map={
        # Snowflake stores every integer as NUMBER(38, 0) and every float as a double.
        FeatureType.INT32: "INT",
        FeatureType.INT64: "BIGINT",
        FeatureType.FLOAT32: "FLOAT",
        FeatureType.FLOAT64: "DOUBLE",
        FeatureType.BOOL: "BOOLEAN",
        FeatureType.STRING: "VARCHAR",
        FeatureType.TIMESTAMP: "TIMESTAMP_TZ",
        FeatureType.DATE: "DATE",
        FeatureType.BYTES: "BINARY",
    },
    array_type="ARRAY",
    map_type="OBJECT",
    json_type="VARIANT",
    timestamp_type="TIMESTAMP_TZ",
    asof_struct_order=False,
    asof_match_condition=True,
    rewrites=(quote_reserved,),
    numbered_parameters=True,
    epoch_micros=_epoch_micros,
)


# -- statements the adapter runs (fsql.adapters.snowflake) ---------------------------------------
# Built here, as trees, so that no SQL text is pasted together in the adapter.


def folded(name: exp.Identifier) -> str:
    """A name as Snowflake stores it: unquoted names fold to upper case, quoted ones do not."""
    return name.name if name.quoted else name.name.upper()


def parse_table_name(identifier: str, doing: str) -> exp.Table:
    """`identifier` (`TABLE`, `SCHEMA.TABLE` or `DB.SCHEMA.TABLE`) as a sqlglot table."""
    hint = "write TABLE, SCHEMA.TABLE or DATABASE.SCHEMA.TABLE"
    try:
        table = exp.to_table(identifier, dialect="snowflake")
    except ParseError as err:
        first = str(err).splitlines()[0]
        raise RunError(f"{doing} failed: not a table name ({first})", hint=hint) from err
    if len(table.parts) > 3 or not all(isinstance(p, exp.Identifier) for p in table.parts):
        raise RunError(f"{doing} failed: not a table name", hint=hint)
    return table


def create_temporary_table(
    table: exp.Table, columns: Sequence[exp.Identifier], types: Sequence[exp.DataType]
) -> exp.Create:
    """`CREATE OR REPLACE TEMPORARY TABLE table (column type, ...)`."""
    return exp.Create(
        this=exp.Schema(
            this=table.copy(),
            expressions=[
                exp.ColumnDef(this=col.copy(), kind=kind.copy())
                for col, kind in zip(columns, types, strict=True)
            ],
        ),
        kind="TABLE",
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def drop_table(table: exp.Table) -> exp.Drop:
    """`DROP TABLE IF EXISTS table`."""
    return exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)


def describe_query(table: exp.Table) -> exp.Select:
    """`SELECT * FROM table LIMIT 0`: described (compiled, not run) to learn the columns."""
    return exp.select("*").from_(table.copy()).limit(0)


def create_stage(name: str) -> exp.Create:
    """`CREATE TEMPORARY STAGE IF NOT EXISTS name`: the session's upload stage."""
    return exp.Create(
        this=exp.to_table(name, dialect="snowflake"),
        kind="STAGE",
        exists=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def stage_location(stage: str, folder: str) -> exp.Var:
    """`@stage/folder`, where PUT writes and COPY reads.

    Snowflake's escape hatch, the one piece of its syntax fsql writes as text: sqlglot has no
    node for a stage location (its own parser reads `@stage/path` as a bare Var). Both parts
    are fsql's (a constant stage name and a random folder), never a user's text."""
    if not all(part.replace("_", "").isalnum() for part in (stage, folder)):
        raise ValueError(f"not a stage location fsql writes: @{stage}/{folder}")
    return exp.var(f"@{stage}/{folder}")


def _option(name: str, value: exp.Expression) -> exp.Property:
    return exp.Property(this=exp.var(name), value=value)


def put_file(path: PurePath, location: exp.Var) -> exp.Put:
    """`PUT 'file://path' @stage/folder AUTO_COMPRESS = FALSE OVERWRITE = TRUE`."""
    return exp.Put(
        this=exp.Literal.string(f"file://{path.as_posix()}"),
        target=location.copy(),
        properties=exp.Properties(
            expressions=[_option("AUTO_COMPRESS", exp.false()), _option("OVERWRITE", exp.true())]
        ),
    )


_SEMI_STRUCTURED = (exp.DataType.Type.ARRAY, exp.DataType.Type.OBJECT, exp.DataType.Type.VARIANT)


def copy_parquet(
    table: exp.Table,
    columns: Sequence[exp.Identifier],
    types: Sequence[exp.DataType],
    location: exp.Var,
) -> exp.Copy:
    """`COPY INTO table (columns) FROM (SELECT CAST(GET_PATH($1, 'column') AS type), ... FROM
    @stage/folder) FILE_FORMAT = (TYPE = PARQUET ...) PURGE = TRUE`.

    `GET_PATH($1, 'name')` (what `$1:name` means) reads a Parquet field by its exact name, as
    write_pandas does; USE_LOGICAL_TYPE keeps timestamps as instants."""

    def read(column: exp.Identifier, kind: exp.DataType) -> exp.Expression:
        path = exp.JSONPath(expressions=[exp.JSONPathRoot(), exp.JSONPathKey(this=column.name)])
        field = exp.JSONExtract(
            this=exp.Parameter(this=exp.Literal.number(1)),
            expression=path,
            variant_extract=True,
            requires_json=True,
        )
        if kind.this in _SEMI_STRUCTURED:  # uploaded as JSON text (snowflake_values)
            text = exp.cast(field, built_type("VARCHAR"))
            return exp.cast(exp.ParseJSON(this=text), kind.copy())
        return exp.cast(field, kind.copy())

    reads = [read(col, kind) for col, kind in zip(columns, types, strict=True)]
    file_format = [
        _option("TYPE", exp.var("PARQUET")),
        _option("USE_LOGICAL_TYPE", exp.true()),
        _option("BINARY_AS_TEXT", exp.false()),
    ]
    return exp.Copy(
        this=exp.Schema(this=table.copy(), expressions=[col.copy() for col in columns]),
        kind=True,  # FROM
        files=[exp.Subquery(this=exp.select(*reads).from_(exp.Table(this=location.copy())))],
        params=[
            exp.CopyParameter(this=exp.var("FILE_FORMAT"), expressions=file_format),
            exp.CopyParameter(this=exp.var("PURGE"), expression=exp.true()),
        ],
    )


def tables_row_query(table: exp.Table) -> tuple[exp.Select, dict[str, str]]:
    """The table's row of `<db>.INFORMATION_SCHEMA.TABLES` (TABLE_TYPE, LAST_ALTERED, ROW_COUNT,
    BYTES), with its parameters: `:name`, and `:schema` when `table` names one (else the
    session's schema; without a database, the session's database)."""
    catalog = table.args.get("catalog")
    info = exp.table_("TABLES", "INFORMATION_SCHEMA", catalog.copy() if catalog else None)
    params = {"name": folded(table.this)}
    schema: exp.Expression = exp.CurrentSchema()
    if table.args.get("db"):
        params["schema"] = folded(table.args["db"])
        schema = exp.Placeholder(this="schema")
    query = (
        exp.select("TABLE_TYPE", "LAST_ALTERED", "ROW_COUNT", "BYTES")
        .from_(info)
        .where(
            exp.and_(
                exp.column("TABLE_SCHEMA").eq(schema),
                exp.column("TABLE_NAME").eq(exp.Placeholder(this="name")),
            )
        )
    )
    return query, params


def checksum_query(table: exp.Table, columns: Sequence[str]) -> exp.Select:
    """`SELECT COUNT(*), SUM(CAST(HASH(<every column>) AS NUMBER(20, 0))) FROM table`.

    Not HASH_AGG(*), which fakesnow lacks; NUMBER(20, 0) holds both Snowflake's signed HASH
    and fakesnow's unsigned one (DuckDB's UBIGINT), and a sum, unlike XOR, also moves when a
    duplicate row is added."""
    row_hash = exp.Anonymous(
        this="HASH",
        expressions=[exp.column(exp.to_identifier(name, quoted=True)) for name in columns],
    )
    hash_type = built_type("NUMBER(20, 0)", "snowflake")
    return exp.select(
        exp.Count(this=exp.Star()), exp.Sum(this=exp.cast(row_hash, hash_type))
    ).from_(table.copy())

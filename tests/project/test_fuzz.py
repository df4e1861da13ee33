"""`fsql compile` on a damaged project says what is wrong; it never crashes (SPEC §3).

Each example starts from a valid copy of the example project and applies one to three
corruptions drawn by hypothesis: YAML with keys deleted or renamed, values of the wrong
kind (a list where a mapping belongs, a number where a name belongs, null, deeply nested
junk), duplicate keys, broken syntax, bytes that are not UTF-8, empty or truncated files;
SQL truncated, with random tokens or Jinja inserted, unbalanced brackets and quotes,
unknown `ref()`/`source()`; names duplicated in another case, reserved, unicode, empty
or very long; unknown feature types. Then `fsql compile` runs in-process through the
real CLI, and whatever the damage:

- the exit code is 0 (it still compiles) or 2 (the project is wrong); 1 is the CLI's
  code for an unexpected exception, so it counts as a crash here;
- nothing prints a traceback;
- an exit 2 prints at least one line, every line an `error:` line, and leaves no
  `target/compiled` behind (compile output is replaced as a whole or not at all).

A failure shows the corruptions applied (hypothesis' notes) and the `--debug` output.
The default run is derandomized (the same examples every time) and takes a few seconds;
`FSQL_FUZZ_EXAMPLES=5000` runs that many random examples instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from fsql.cli.main import cli
from tests.conftest import REPO

EXAMPLES = int(os.environ.get("FSQL_FUZZ_EXAMPLES", "150"))
# Compile reads no data: the example's data/ folder is left out to keep copies cheap.
PARTS = ["fsql_project.yml", "profiles.yml", "models", "macros"]

# Names that have broken, or could break, a loader: case twins of real names, reserved
# ones, keywords, unicode, empty, very long, quoting and templating characters.
NAMES = [
    "",
    " ",
    "User_Features",
    "USER_DAILY_ORDERS",
    "user_features",
    "item_features",
    "user_daily_orders",
    "user",
    "item",
    "raw",
    "orders",
    "user_id",
    "event_timestamp",
    "created_timestamp",
    "__fsql_x",
    "__FSQL",
    "__event_ts",
    "__version",
    "select",
    "order",
    "from",
    "true",
    "null",
    "~",
    "ünïcödé",
    "名前",
    "a b",
    "a.b",
    "a-b",
    "a'b",
    'a"b',
    "a`b",
    "x; drop table t",
    "{{ 1 }}",
    "1abc",
    "a" * 300,
    "../x",
    "a/b",
    "a\x00b",
    "\u202e",
    "\udcff",  # a lone surrogate: how Python spells a file name byte that is not UTF-8
]
TYPES = [
    "int",
    "integer",
    "varchar",
    "decimal(10,2)",
    "array<int64>",
    "map<string,int64>",
    "json",
    "INT64",
    " float64 ",
    "int32",
    "float32",
    "bool",
    "string",
    "timestamp",
    "date",
    "bytes",
]
# Other values a string field may receive: durations, references, identifiers, dialects.
VALUES = [
    "7d",
    "0d",
    "-1d",
    "1y",
    "99999999999999999999d",
    "1.5h",
    "d",
    "table",
    "view",
    "incremental",
    "user_features:nope",
    "nope:user_30d_purchase_count",
    "user_features:",
    ":",
    "a:b:c",
    "on_demand:nope",
    "analytics.orders",
    "a.b.c.d",
    "read_text('/etc/passwd')",
    'main.uf"; drop table x',
    "data/nope.csv",
    "data/orders.parquet",
    "duckdb",
    "snowflake",
    "bigquery",
    "tsql",
    "nosuchsql",
    "amount / nullif(user_lifetime_value, 0",
    "select 1",
    "{{ env_var('HOME') }}",
    "count",
    "count_distinct",
    "stddev",
    "median",
    "created_timestamp",
    "event_timestamp",
    "30d",
]
KEYS = [
    "name",
    "Name",
    "path",
    "identifier",
    "entities",
    "join_keys",
    "tables",
    "features",
    "type",
    "timestamp",
    "created_timestamp",
    "ttl",
    "online",
    "schedule",
    "materialized",
    "lookback",
    "tags",
    "expression",
    "inputs",
    "request_columns",
    "aggregations",
    "aggregation_interval",
    "visible_at",
    "function",
    "windows",
    "column",
    "logging",
    "sample_rate",
    "feature_views",
    "feature_services",
    "on_demand_features",
    "sources",
    "version",
    "vars",
    "dialect",
    "profile",
    "model-paths",
    "target",
    "outputs",
    "offline",
    "online",
    "nonsense",
]
SQL_TOKENS = [
    "select",
    "from",
    "where",
    ",",
    "(",
    ")",
    "'",
    '"',
    "`",
    ";",
    "*",
    "--",
    "/*",
    "*/",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "{{ ref('nope') }}",
    "{{ ref('user_features') }}",
    "{{ ref('item_features') }}",
    "{{ ref('user_daily_orders') }}",
    "{{ ref(1) }}",
    "{{ source('raw', 'nope') }}",
    "{{ source('nope', 'orders') }}",
    "{{ source('raw') }}",
    "{{ var('nope') }}",
    "{{ env_var('FSQL_FUZZ_UNSET') }}",
    "{{ env_var(1) }}",
    "{{ 1/0 }}",
    "{{ this }}",
    "{{ day_end() }}",
    "{{ nope() }}",
    "{% if %}",
    "{% if is_incremental() %}",
    "{% endif %}",
    "{% macro m() %}",
    "{{ ''.__class__ }}",
    "union all select 1",
    "drop table x",
    "group by",
    "order by",
    "limit",
    "join",
    "asof join",
    "over (",
    "qualify",
    "interval",
    "::",
    "[1]",
    "$1",
    "?",
    "1e309",
    "99999999999999999999999",
    "ü",
    "\x00",
    "\t",
    "\\",
    "\n",
]
WHOLE_MODELS = [
    "",
    "   \n",
    "select",
    "select * from {{ source('raw', 'orders') }}",
    "select *, 1 as extra from {{ ref('user_daily_orders') }}",
    "with x as (select 1 as user_id) select * from x",
    "select 1; select 2",
    "create table x as select 1",
    "{% raw %}",
    *(f"select {'(' * n}1{')' * n} as x" for n in (100, 400, 3000)),
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
]
# Nine lines that stand for two billion values (aliases of aliases).
BOMB = (
    "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n"
    + "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 9))
    + "entities: [{name: shopper, join_keys: [shopper_id], description: *x8}]\n"
)
SYNTAX = [":", "[", "]", "{", "}", "\t", "- ", "&a ", "*a", "!!python/object/apply:os.system ['x']",
          "%", "@", "`", "'", '"', "? ", "|", ">", "\n  - ", ": :", "<<: *a"]  # fmt: skip


def _junk() -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=12)
        | st.sampled_from(NAMES + TYPES + VALUES)
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    )


JUNK = _junk()
UTF8 = ("utf-8", "surrogateescape")  # a lone surrogate becomes the byte it stands for
DEEP = "__fsql_fuzz_deep__"  # stands for deeply nested junk, spliced into the dumped text


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _yaml_files(files: dict[str, bytes]) -> list[str]:
    return sorted(p for p in files if p.endswith((".yml", ".yaml")))


def _sql_files(files: dict[str, bytes]) -> list[str]:
    return sorted(p for p in files if p.endswith(".sql"))


def _mutate_yaml_tree(data: st.DataObject, files: dict[str, bytes]) -> str:
    """Load a YAML file, change one node, dump it again."""
    path = data.draw(st.sampled_from(_yaml_files(files)), label="yaml file")
    try:
        doc = yaml.safe_load(files[path].decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return _mutate_text(data, files, path)
    nodes = list(_paths(doc))
    node = data.draw(st.sampled_from(nodes), label="node")
    kind = data.draw(
        st.sampled_from(["delete", "replace", "string", "rename", "wrap", "duplicate", "deep"]),
        label="change",
    )
    deep = ""
    if not node:  # the document itself
        if kind in ("delete", "rename", "duplicate"):
            kind = "replace"
        value = data.draw(JUNK, label="junk") if kind != "wrap" else [doc]
        doc = value if kind in ("replace", "wrap") else DEEP
        if kind == "deep":
            deep = _deep(data)
    else:
        parent, key = _get(doc, node[:-1]), node[-1]
        if kind == "delete":
            del parent[key]
        elif kind == "replace":
            parent[key] = data.draw(JUNK, label="junk")
        elif kind == "string":
            parent[key] = data.draw(st.sampled_from(NAMES + TYPES + VALUES), label="string")
        elif kind == "rename" and isinstance(parent, dict):
            new = data.draw(st.sampled_from(KEYS), label="new key")
            parent[new] = parent.pop(key)
        elif kind == "wrap":
            value = parent[key]
            parent[key] = {"name": value} if isinstance(value, list) else [value]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, parent[key])
        else:
            parent[key] = DEEP
            deep = _deep(data)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    if deep:
        text = text.replace(DEEP, deep)
    files[path] = text.encode(*UTF8)
    return f"{path}: {kind} at {list(node)}"


def _deep(data: st.DataObject) -> str:
    depth = data.draw(st.sampled_from([50, 500, 5000]), label="depth")
    opening, closing = data.draw(st.sampled_from([("[", "]"), ("{a: ", "}")]), label="brackets")
    return opening * depth + closing * depth


def _mutate_text(data: st.DataObject, files: dict[str, bytes], path: str | None = None) -> str:
    """A textual change to any file: truncate, insert, delete, duplicate a line, ..."""
    if path is None:
        path = data.draw(st.sampled_from(sorted(files)), label="file")
    text = files[path]
    is_sql = path.endswith(".sql")
    kind = data.draw(
        st.sampled_from(["truncate", "insert", "delete", "dup_line", "bytes", "empty", "whole"]),
        label="text change",
    )
    where = data.draw(st.integers(0, len(text)), label="offset")
    if kind == "truncate":
        text = text[:where]
    elif kind == "insert":
        pool = SQL_TOKENS if is_sql else SYNTAX + NAMES
        pieces = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4), label="tokens")
        text = text[:where] + " ".join(pieces).encode(*UTF8) + text[where:]
    elif kind == "delete":
        length = data.draw(st.integers(1, 40), label="length")
        text = text[:where] + text[where + length :]
    elif kind == "dup_line":
        lines = text.splitlines(keepends=True) or [b""]
        index = data.draw(st.integers(0, len(lines) - 1), label="line")
        lines.insert(index, lines[index])
        text = b"".join(lines)
    elif kind == "bytes":
        junk = data.draw(st.sampled_from([b"\xff\xfe", b"\xc3(", b"\x00", b"\xef\xbb\xbf"]))
        text = text[:where] + junk + text[where:]
    elif kind == "empty":
        text = b""
    elif is_sql:
        text = data.draw(st.sampled_from(WHOLE_MODELS), label="model").encode(*UTF8)
    else:
        text = data.draw(st.sampled_from([*SYNTAX, *NAMES, BOMB]), label="whole").encode(*UTF8)
    files[path] = text
    return f"{path}: {kind} at {where}"


def _mutate_files(data: st.DataObject, files: dict[str, bytes]) -> str:
    """Copy, move or rename a model or metadata file (duplicate and odd file names)."""
    path = data.draw(st.sampled_from(sorted(p for p in files if p.startswith("models/"))))
    folder, _, name = path.rpartition("/")
    suffix = name[name.rfind(".") :]
    stem = data.draw(st.sampled_from(NAMES), label="stem")
    if not stem.strip(". ") or "/" in stem or "\x00" in stem or len(stem) > 200:
        stem = name[: -len(suffix)].upper()  # a case twin of the file's own name
    where = data.draw(st.sampled_from([folder, "models", "models/other"]), label="folder")
    new = f"{where}/{stem}{suffix}"
    if data.draw(st.booleans(), label="copy"):
        files[new] = files[path]
        return f"copied {path} to {new}"
    files[new] = files.pop(path)
    return f"moved {path} to {new}"


MUTATIONS = [_mutate_yaml_tree, _mutate_text, _mutate_files]


@functools.cache
def template() -> dict[str, bytes]:
    """The example project's text files by relative path (read once per session)."""
    files: dict[str, bytes] = {}
    for part in PARTS:
        src = REPO / part
        for path in [src] if src.is_file() else sorted(src.rglob("*")):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".sql"):
                files[path.relative_to(REPO).as_posix()] = path.read_bytes()
    return files


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _compile(root: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        cli, ["compile", "--project-dir", str(root), *extra], catch_exceptions=False
    )


def problem(result: Result, root: Path) -> str | None:
    """What is wrong with how compile ended, or None when it ended as it should."""
    out, err = result.stdout, result.stderr
    if result.exit_code not in (0, 2):
        return f"exit code {result.exit_code}"
    if "Traceback" in out + err:
        return "a traceback"
    if result.exit_code == 0:
        return None if (root / "target" / "manifest.json").is_file() else "exit 0, no manifest"
    lines = err.splitlines()
    if not any(line.strip() for line in lines):
        return "exit 2 without a message"
    bad = [line for line in lines if not line.startswith("error: ")]
    if bad:
        return f"a line that is not an error line: {bad[0]!r}"
    if (root / "target" / "compiled").exists():
        return "exit 2 left target/compiled behind"
    return None


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="FSQL_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_compile_survives_a_damaged_project(data: Any) -> None:
    files = dict(template())
    count = data.draw(st.integers(1, 3), label="corruptions")
    for _ in range(count):
        mutate = data.draw(st.sampled_from(MUTATIONS), label="kind")
        note(mutate(data, files))
    root = Path(tempfile.mkdtemp(prefix="fsql-fuzz-"))
    try:
        _write(root, files)
        result = _compile(root)
        found = problem(result, root)
        if found is not None:
            shutil.rmtree(root / "target", ignore_errors=True)
            debug = _compile(root, "--debug")
            pytest.fail(f"{found}:\n{result.stderr}\n--debug:\n{debug.stderr}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_intact_example_passes_the_checks(tmp_path: Path) -> None:
    _write(tmp_path, template())
    assert problem(_compile(tmp_path), tmp_path) is None


def test_the_checks_notice_an_unexpected_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object, **__: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("fsql.compile.target.load_project", crash)
    _write(tmp_path, template())
    assert problem(_compile(tmp_path), tmp_path) == "exit code 1"


USER_YML = "models/user/user.yml"
STAGING_SQL = "models/staging/user_daily_orders.sql"
SERVICES = "models/services.yml"


def _edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        text = (root / path).read_text()
        assert old in text, (path, old)
        (root / path).write_text(text.replace(old, new, 1))

    return edit


def _put(path: str, content: str | bytes) -> Callable[[Path], None]:
    def put(root: Path) -> None:
        data = content.encode(*UTF8) if isinstance(content, str) else content
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)

    return put


def _link_outside(root: Path) -> None:
    outside = root.parent / f"{root.name}-secret.sql"
    outside.write_text("select 'secret'")
    (root / "models" / "stolen.sql").symlink_to(outside)


# Damage the fuzzer (or a review beside it) found to crash compile, each with what the
# one error line now says. Every case exited 1 with a Python exception before.
FOUND: list[tuple[str, Callable[[Path], None], str]] = [
    ("model_not_utf8", _put(STAGING_SQL, b"select\n\xff\xfe"), f"{STAGING_SQL}:2: not UTF-8"),
    ("yaml_not_utf8", _put(USER_YML, b"feature_views:\n  - name: \xc3("),
     f"{USER_YML}:2: not UTF-8"),
    ("macro_not_utf8", _put("macros/time.sql", b"\xff"), "macros/time.sql:1: not UTF-8"),
    # libyaml stops at 1000 levels; PyYAML's constructor ran out of stack before that
    ("deep_yaml", _edit(USER_YML, "[user]", "[" * 900 + "]" * 900),
     f"{USER_YML}: invalid YAML: nested too deeply"),
    ("yaml_bomb", _put("models/bomb.yml", BOMB), "models/bomb.yml: invalid YAML: aliases expand"),
    ("deep_sql", _put(STAGING_SQL, "select " + "(" * 3000 + "1" + ")" * 3000),
     f"{STAGING_SQL}: SQL nested too deeply"),
    ("macro_top_level_error", _put("macros/time.sql", "{{ 1 / 0 }}"),
     "macros/time.sql:1: macro file error: ZeroDivisionError"),
    ("deep_jinja_in_macro", _put("macros/time.sql", "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"),
     "macros/time.sql: macro file error: RecursionError"),
    ("entity_is_a_mapping", _edit(USER_YML, "entities: [user]", "entities: [{a: 1}]"),
     "entities must be a list of entity names"),
    ("created_timestamp_is_a_list",
     _edit(USER_YML, "created_timestamp: created_timestamp", "created_timestamp: [a]"),
     "created_timestamp must be a column name"),
    ("tags_is_a_number", _edit(USER_YML, "tags: [core, user]", "tags: 5"),
     "tags must be a list"),
    ("request_columns_is_a_number",
     _edit(SERVICES, "request_columns: [{name: cart_amount, type: float64}]", "request_columns: 5"),
     "request_columns entries need name and type"),
    ("expression_with_a_statement",
     _edit(SERVICES, "expression: cart_amount / nullif(user_lifetime_value, 0)",
           "expression: 'cart_amount; drop table user_features'"),
     "expression must be one SQL expression"),
    ("model_path_missing",
     _edit("fsql_project.yml", "model-paths: [models]", "model-paths: [model]"),
     "fsql_project.yml: model-paths: no folder 'model'"),
    ("model_path_too_long",
     _edit("fsql_project.yml", "model-paths: [models]", f"model-paths: [{'a' * 300}]"),
     "is not a folder inside the project"),
    ("target_path_outside", _put("fsql_project.yml", "name: shop\ntarget-path: ../out\n"),
     "'target-path': '../out' is not a folder inside the project"),
    ("placeholder_spelled_out",
     _edit(STAGING_SQL, "from {{ source('raw', 'orders') }}", "from __fsql_src__raw__orders"),
     "table '__fsql_src__raw__orders': names beginning with __fsql are reserved"),
    ("model_linked_outside", _link_outside, "models/stolen.sql: links to a file outside"),
    # In files other teams own (fsql/config/profiles.py, fsql/store.py, fsql/compile/writer.py):
    ("profile_target_is_a_list", _edit("profiles.yml", "target: dev", "target: [dev]"),
     "target ['dev'] not found in profile 'shop'"),
    ("profile_type_is_a_mapping", _edit("profiles.yml", "type: duckdb", "type: {a: 1}"),
     "offline type must be one of"),
    ("bigquery_without_dataset",
     _edit("profiles.yml", "type: duckdb, path: target/fsql.duckdb", "type: bigquery, project: p"),
     "bigquery offline engine needs dataset"),
]  # fmt: skip


SOURCES_YML = "models/sources.yml"
# Found reading the loader beside the fuzzer: these compiled, into SQL that mixed a
# project's columns with fsql's own or read one of two sources at random.
REVIEWED: list[tuple[str, Callable[[Path], None], str]] = [
    ("entity_name_reserved",
     _edit(SOURCES_YML, "entities:\n", "entities:\n  - {name: __fsql_e, join_keys: [e_id]}\n"),
     "entity '__fsql_e': the name is reserved"),
    ("join_key_reserved",
     _edit(SOURCES_YML, "entities:\n", "entities:\n  - {name: shopper, join_keys: [__version]}\n"),
     "entity 'shopper': join key '__version' is reserved"),
    ("timestamp_reserved", _edit(USER_YML, "timestamp: event_timestamp", "timestamp: __fsql_ts"),
     "feature view 'user_features': timestamp '__fsql_ts' is reserved"),
    ("created_is_timestamp",
     _edit(USER_YML, "created_timestamp: created_timestamp", "created_timestamp: EVENT_TIMESTAMP"),
     "created_timestamp is the timestamp column itself"),
    ("source_tables_differing_in_case",
     _edit(SOURCES_YML, "      - name: reviews\n", "      - {name: ORDERS, path: x.csv}\n"
                                                  "      - name: reviews\n"),
     "duplicate source table raw.ORDERS (also in models/sources.yml as raw.orders"),
    ("expression_reads_a_table",
     _edit(SERVICES, "expression: cart_amount / nullif(user_lifetime_value, 0)",
           "expression: (select max(amount) from read_csv('data/orders.csv'))"),
     "expression may not contain SUBQUERY"),
]  # fmt: skip
CASES = FOUND + REVIEWED


@pytest.mark.parametrize(("edit", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_damage_found_is_one_clear_error(
    tmp_path: Path, edit: Callable[[Path], None], needle: str
) -> None:
    root = tmp_path / "shop"
    _write(root, template())
    edit(root)
    result = _compile(root)
    assert problem(result, root) is None, result.stderr
    assert result.exit_code == 2, result.stdout
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert needle in result.stderr, result.stderr


def test_a_project_without_views_compiles(tmp_path: Path) -> None:
    """An empty model folder is a project still to be written, not a crash (the empty
    compile output used to be renamed before it existed)."""
    root = tmp_path / "shop"
    _write(root, {p: c for p, c in template().items() if not p.startswith("models/")})
    (root / "models").mkdir()
    result = _compile(root)
    assert result.exit_code == 0, result.stderr
    assert problem(result, root) is None

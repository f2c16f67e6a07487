"""Queries on a result store without SQL injection: filters are parsed here, column names
checked against the store's columns, and values passed as parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from chip2grid.errors import InvalidParameterError
from chip2grid.sweep.store import ResultStore, quote

__all__ = ["AGGREGATES", "QueryResult", "export_query", "parse_where", "query_store"]

AGGREGATES: dict[str, str] = {
    "mean": "avg",
    "min": "min",
    "max": "max",
    "sum": "sum",
    "median": "median",
    "std": "stddev_samp",
}
"""``--agg`` names and the DuckDB aggregate each runs."""

_OPERATORS = {
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "=": "=",
    "==": "=",
    "!=": "<>",
    "<>": "<>",
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
      | (?P<str>'(?:[^']|'')*')
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<quoted>"[^"]+")
      | (?P<ident>[A-Za-z_][A-Za-z0-9_.\-]*)
      | (?P<paren>[()])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryResult:
    """Rows of a query, with their column names."""

    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidParameterError(
                "--where",
                text,
                "conditions such as 'cost_usd_per_mtok_output < 1 and "
                "site.region = 'us-texas'' (column, operator, number or 'string'; and, or, "
                "parentheses)",
                f"cannot read from {text[pos:]!r}",
            )
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse_where(text: str, columns: set[str]) -> tuple[str, list[object]]:
    """Turn ``--where`` text into a SQL condition with ``?`` parameters.

    Grammar: ``expr := cond ((and | or) cond)*``; ``cond := column op value | not cond |
    ( expr )``; ``op`` one of ``< <= > >= = == != <>``; ``value`` a number, a 'string', true,
    false. Columns must exist in the store (a dotted field name may be written bare or in
    double quotes); anything else is refused.
    """
    tokens = _tokens(text)
    if not tokens:
        raise InvalidParameterError("--where", text, "at least one condition")
    params: list[object] = []
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise InvalidParameterError("--where", text, "a complete condition", "it ends early")
        pos += 1
        return tokens[pos - 1]

    def column(tok: tuple[str, str]) -> str:
        kind, raw = tok
        name = raw[1:-1] if kind == "quoted" else raw
        if kind not in ("ident", "quoted") or name not in columns:
            raise InvalidParameterError(
                "--where", raw, f"a column of the store: {', '.join(sorted(columns))}"
            )
        return quote(name)

    def value(tok: tuple[str, str]) -> object:
        kind, raw = tok
        if kind == "num":
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        if kind == "str":
            return raw[1:-1].replace("''", "'")
        if kind == "ident" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise InvalidParameterError("--where", raw, "a number, a 'quoted string', true or false")

    def cond() -> str:
        tok = take()
        if tok == ("paren", "("):
            inner = expr()
            if take() != ("paren", ")"):
                raise InvalidParameterError("--where", text, "balanced parentheses")
            return f"({inner})"
        if tok[0] == "ident" and tok[1].lower() == "not":
            return f"NOT {cond()}"
        col = column(tok)
        op_tok = take()
        if op_tok[0] != "op":
            raise InvalidParameterError("--where", op_tok[1], ", ".join(_OPERATORS))
        params.append(value(take()))
        return f"{col} {_OPERATORS[op_tok[1]]} ?"

    def expr() -> str:
        parts = [cond()]
        while (tok := peek()) is not None and tok[0] == "ident" and tok[1].lower() in ("and", "or"):
            take()
            parts.append(tok[1].upper())
            parts.append(cond())
        return " ".join(parts)

    sql = expr()
    if pos != len(tokens):
        raise InvalidParameterError(
            "--where", text, "and / or between conditions", f"extra {tokens[pos][1]!r}"
        )
    return sql, params


def _select(
    store: ResultStore,
    *,
    where: str | None,
    group_by: str | None,
    agg: str,
    sort: str | None,
    limit: int | None,
    columns: list[str] | None,
) -> tuple[str, list[object]]:
    have = store.columns()
    names = set(have)
    params: list[object] = []
    clause = ""
    if where:
        cond, params = parse_where(where, names)
        clause = f" WHERE {cond}"
    if group_by is not None:
        if group_by not in names:
            raise InvalidParameterError("--group-by", group_by, ", ".join(sorted(names)))
        if agg not in AGGREGATES:
            raise InvalidParameterError("--agg", agg, ", ".join(AGGREGATES))
        kinds = store.column_kinds()
        metrics = [n for n in have if kinds.get(n) == "metric"] + ["elapsed_s"]
        select = ", ".join(
            [quote(group_by), "count(*) AS num_points"]
            + [f"{AGGREGATES[agg]}({quote(m)}) AS {quote(m)}" for m in metrics if m != group_by]
        )
        sql = f"SELECT {select} FROM points{clause} GROUP BY {quote(group_by)}"
        result_names = {group_by, "num_points", *metrics}
    else:
        if columns:
            for c in columns:
                if c not in names:
                    raise InvalidParameterError("--columns", c, ", ".join(sorted(names)))
        select = ", ".join(quote(c) for c in columns) if columns else "*"
        sql = f"SELECT {select} FROM points{clause}"
        result_names = set(columns) if columns else names
    if sort:
        descending = sort.startswith("-") or sort.lower().endswith(":desc")
        key = sort.lstrip("-").removesuffix(":desc").removesuffix(":asc")
        if key not in result_names:
            raise InvalidParameterError(
                "--sort", sort, f"a column of the result: {', '.join(sorted(result_names))}"
            )
        sql += f" ORDER BY {quote(key)} {'DESC' if descending else 'ASC'}"
    elif group_by is not None:
        sql += f" ORDER BY {quote(group_by)}"
    else:
        sql += " ORDER BY point_id"
    if limit is not None:
        if limit < 1:
            raise InvalidParameterError("--limit", limit, "an integer >= 1")
        sql += f" LIMIT {int(limit)}"
    return sql, params


def query_store(
    store: ResultStore,
    *,
    where: str | None = None,
    group_by: str | None = None,
    agg: str = "mean",
    sort: str | None = None,
    limit: int | None = None,
    columns: list[str] | None = None,
) -> QueryResult:
    """Rows of the store, filtered, grouped, sorted and limited (see :func:`parse_where`).

    ``sort`` is a column of the result, ``-name`` or ``name:desc`` for descending order.
    """
    sql, params = _select(
        store, where=where, group_by=group_by, agg=agg, sort=sort, limit=limit, columns=columns
    )
    cursor = store.connection.execute(sql, params)
    names = tuple(str(d[0]) for d in cursor.description)
    return QueryResult(columns=names, rows=tuple(tuple(r) for r in cursor.fetchall()))


def export_query(
    store: ResultStore,
    path: Path | str,
    *,
    where: str | None = None,
    group_by: str | None = None,
    agg: str = "mean",
    sort: str | None = None,
    limit: int | None = None,
    columns: list[str] | None = None,
) -> int:
    """Write the query's rows to ``path`` (``.parquet`` or ``.csv``); return the row count."""
    out = Path(path)
    fmt = {".parquet": "PARQUET", ".csv": "CSV"}.get(out.suffix.lower())
    if fmt is None:
        raise InvalidParameterError("--export", str(out), "a path ending in .parquet or .csv")
    sql, params = _select(
        store, where=where, group_by=group_by, agg=agg, sort=sort, limit=limit, columns=columns
    )
    con = store.connection
    con.execute("CREATE OR REPLACE TEMP TABLE export_rows AS " + sql, params)
    target = str(out).replace("'", "''")
    options = "FORMAT PARQUET" if fmt == "PARQUET" else "FORMAT CSV, HEADER"
    con.execute(f"COPY export_rows TO '{target}' ({options})")
    row = con.execute("SELECT count(*) FROM export_rows").fetchone()
    con.execute("DROP TABLE export_rows")
    return int(row[0]) if row else 0

"""The result store of a sweep: one DuckDB table with one row per scenario point.

Schema (table ``points``)::

    point_id    VARCHAR PRIMARY KEY   sha256(base fingerprint, sorted overrides)[:16]
    base        VARCHAR               the base scenario (name or path)
    status      VARCHAR               'ok' or 'error'
    error       VARCHAR               the error message of an 'error' row, else NULL
    elapsed_s   DOUBLE                evaluation time of the point in its worker
    finished_at TIMESTAMP             when the parent stored it
    overrides   VARCHAR               the overrides as JSON
    "<field>"   BIGINT|DOUBLE|VARCHAR|BOOLEAN   one column per varied field (dotted name)
    "<metric>"  DOUBLE                one column per metric

Table ``columns(name, kind)`` says which columns are fields and which are metrics. One writer
(the sweep's parent process) appends batches, each in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb

from chip2grid.errors import InvalidParameterError

__all__ = ["FIXED_COLUMNS", "PointResult", "ResultStore"]

FIXED_COLUMNS: tuple[str, ...] = (
    "point_id",
    "base",
    "status",
    "error",
    "elapsed_s",
    "finished_at",
    "overrides",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointResult:
    """What one evaluated point returns to the writer."""

    point_id: str
    overrides: tuple[tuple[str, object], ...]
    status: str
    error: str | None
    elapsed_s: float
    metrics: tuple[tuple[str, float], ...] = ()


def quote(name: str) -> str:
    """A DuckDB identifier for a column name (names holding a double quote are refused)."""
    if '"' in name or not name:
        raise InvalidParameterError("column", name, "a name without double quotes")
    return f'"{name}"'


def _sql_type(value: object) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE"
    return "VARCHAR"


class ResultStore:
    """A DuckDB file of sweep results (see the module docstring for the schema).

    Parameters
    ----------
    path
        The ``.duckdb`` file; created when absent unless ``read_only``.
    read_only
        Open for queries only.
    """

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise InvalidParameterError(
                "store", str(self.path), "an existing .duckdb file written by `chip2grid sweep`"
            )
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise InvalidParameterError(
                "store", str(self.path), "a DuckDB file not open in another process", str(exc)
            ) from None
        if not read_only:
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS points (point_id VARCHAR PRIMARY KEY, "
                "base VARCHAR NOT NULL, status VARCHAR NOT NULL, error VARCHAR, "
                "elapsed_s DOUBLE, finished_at TIMESTAMP DEFAULT current_timestamp, "
                "overrides VARCHAR)"
            )
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS columns (name VARCHAR PRIMARY KEY, kind VARCHAR)"
            )
        elif not self.has_table("points"):
            raise InvalidParameterError(
                "store", str(self.path), "a store written by `chip2grid sweep` (no points table)"
            )

    def has_table(self, name: str) -> bool:
        """Whether the store holds table ``name``."""
        rows = self._con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        return bool(rows and rows[0])

    def close(self) -> None:
        """Close the connection (committed batches are durable)."""
        self._con.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection (for queries the API does not cover)."""
        return self._con

    def columns(self) -> dict[str, str]:
        """Column name -> DuckDB type of the ``points`` table."""
        rows = self._con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'points' ORDER BY ordinal_position"
        ).fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def column_kinds(self) -> dict[str, str]:
        """Column name -> ``field`` or ``metric``."""
        if not self.has_table("columns"):
            return {}
        rows = self._con.execute("SELECT name, kind FROM columns").fetchall()
        return {str(n): str(k) for n, k in rows}

    def stored_ids(self) -> set[str]:
        """Every point id already stored."""
        return {str(r[0]) for r in self._con.execute("SELECT point_id FROM points").fetchall()}

    def count(self) -> int:
        """Rows stored."""
        row = self._con.execute("SELECT count(*) FROM points").fetchone()
        return int(row[0]) if row else 0

    def add_columns(self, types: Mapping[str, str], kind: str) -> None:
        """Add the columns of ``types`` (name -> SQL type) that the table lacks."""
        have = self.columns()
        for name, sql_type in types.items():
            if name in FIXED_COLUMNS:
                raise InvalidParameterError(
                    "column", name, f"a name other than {', '.join(FIXED_COLUMNS)}"
                )
            if name not in have:
                self._con.execute(f"ALTER TABLE points ADD COLUMN {quote(name)} {sql_type}")
                self._con.execute(
                    "INSERT INTO columns VALUES (?, ?) ON CONFLICT DO NOTHING", [name, kind]
                )

    def write_batch(self, base: str, results: Sequence[PointResult]) -> int:
        """Append ``results`` in one transaction (duplicates of stored ids are ignored);
        return the rows written."""
        if not results:
            return 0
        field_types: dict[str, str] = {}
        metric_types: dict[str, str] = {}
        for r in results:
            for name, value in r.overrides:
                field_types.setdefault(name, _sql_type(value))
            for name, _ in r.metrics:
                metric_types.setdefault(name, "DOUBLE")
        before = self.count()
        self._con.execute("BEGIN TRANSACTION")
        try:
            self.add_columns(field_types, "field")
            self.add_columns(metric_types, "metric")
            names = [*FIXED_COLUMNS[:5], "overrides", *field_types, *metric_types]
            sql = (
                f"INSERT INTO points ({', '.join(quote(n) for n in names)}) VALUES "
                f"({', '.join('?' for _ in names)}) ON CONFLICT DO NOTHING"
            )
            rows = []
            for r in results:
                fields = dict(r.overrides)
                metrics = dict(r.metrics)
                rows.append(
                    [
                        r.point_id,
                        base,
                        r.status,
                        r.error,
                        r.elapsed_s,
                        json.dumps(fields, sort_keys=True, default=str),
                        *(fields.get(n) for n in field_types),
                        *(metrics.get(n) for n in metric_types),
                    ]
                )
            self._con.executemany(sql, rows)
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        return self.count() - before

    def prepare_fields(self, types: Iterable[tuple[str, str]]) -> None:
        """Create the field columns up front with their types (in one transaction)."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            self.add_columns(dict(types), "field")
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise

"""What exists: accelerators, models, engines and calibrations, each figure with its source.

The catalogs are TOML files in this package (read with :mod:`tomllib`), one table per entry,
field names equal to the dataclass that the layer above builds from them. This layer only
reads and checks the files; it imports no other layer.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
import types
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from chip2grid.errors import CatalogError, UnknownEntryError

__all__ = ["build_entry", "catalog_names", "get_entry", "load_table", "lookup", "read_toml"]

T = TypeVar("T")

_ALWAYS_OPTIONAL = {"aliases", "notes", "estimate", "estimated_fields"}


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning a syntax error into a :class:`CatalogError` naming the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: {exc}") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read ({exc.strerror})") from None


@functools.cache
def load_table(name: str) -> Mapping[str, Mapping[str, Any]]:
    """Return the raw entries of the packaged catalog ``name`` (e.g. ``"accelerators"``).

    Every entry must carry a non-empty ``source``.
    """
    ref = resources.files(__package__).joinpath(f"{name}.toml")
    with resources.as_file(ref) as path:
        data = read_toml(Path(path))
    _check_sources(name, data, "")
    return types.MappingProxyType(data)


def _check_sources(name: str, data: dict[str, Any], prefix: str) -> None:
    for key, entry in data.items():
        if not isinstance(entry, dict):
            raise CatalogError(f"{name}.toml: [{prefix}{key}] must be a table")
        if str(entry.get("source", "")).strip():
            continue
        if entry and all(isinstance(v, dict) for v in entry.values()):
            # a dotted table such as [hardware.hopper]; ids that contain dots must be quoted
            _check_sources(name, entry, f"{prefix}{key}.")
            continue
        raise CatalogError(
            f"{name}.toml: [{prefix}{key}] has no source (quote ids that contain dots)"
        )


def catalog_names(name: str) -> list[str]:
    """Return the sorted entry ids of catalog ``name``."""
    return sorted(load_table(name))


def lookup(
    table: Mapping[str, Mapping[str, Any]], kind: str, name: str
) -> tuple[str, Mapping[str, Any]]:
    """Find ``name`` in ``table`` by id or alias (case-insensitive); return ``(id, entry)``."""
    key = name.strip().lower()
    if key in table:
        return key, table[key]
    for entry_id, entry in table.items():
        aliases = [str(a).lower() for a in entry.get("aliases", [])]
        if key in aliases:
            return entry_id, entry
    raise UnknownEntryError(kind, name, table.keys())


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CatalogError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CatalogError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise CatalogError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise CatalogError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise CatalogError(f"{where}: expected a list, got {value!r}")
        (item_type, _ellipsis) = typing.get_args(annotation)
        return tuple(_coerce(v, item_type, where) for v in value)
    if origin in (dict, Mapping) or annotation is Mapping:
        if not isinstance(value, dict):
            raise CatalogError(f"{where}: expected a table, got {value!r}")
        _key_type, value_type = typing.get_args(annotation)
        return types.MappingProxyType(
            {k: _coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
        )
    return value


def build_entry(cls: type[T], entry_id: str, entry: Mapping[str, Any], catalog: str) -> T:
    """Build the frozen dataclass ``cls`` from a catalog entry.

    Unknown keys, missing required fields and wrong types are :class:`CatalogError`\\ s that
    name the catalog, the entry and the field.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise CatalogError(
            f"{catalog}.toml: [{entry_id}] has unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name == "id":
            kwargs["id"] = entry_id
            continue
        if name in entry:
            kwargs[name] = _coerce(entry[name], hints[name], f"{catalog}.toml: [{entry_id}].{name}")
        elif (
            field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
            and name not in _ALWAYS_OPTIONAL
        ):
            raise CatalogError(f"{catalog}.toml: [{entry_id}] lacks required field {name!r}")
    return cls(**kwargs)


@functools.cache
def _cached_entry(cls: Any, table_name: str, entry_id: str) -> Any:
    return build_entry(cls, entry_id, load_table(table_name)[entry_id], table_name)


def get_entry(cls: type[T], table_name: str, kind: str, name: str) -> T:
    """Build (once) the ``cls`` object of entry ``name`` (id or alias) of catalog ``table_name``.

    Unknown names raise :class:`UnknownEntryError` of ``kind`` listing the closest ids.
    """
    entry_id, _entry = lookup(load_table(table_name), kind, name)
    key: Any = cls  # classes are hashable; mypy's Hashable check misses type[T]
    entry: T = _cached_entry(key, table_name, entry_id)
    return entry

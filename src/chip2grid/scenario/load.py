"""Read scenarios: built-in names or YAML/TOML files, ``extends`` chains, dotted overrides.

Errors name the field path (``deployment.num_accelerators``), the value received and what is
allowed, whether they come from the schema (pydantic) or from the catalogs (unknown ids).
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from chip2grid.energy import get_energy_source
from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.facility import (
    Region,
    default_cooling_for,
    default_platform_for,
    get_cooling,
    get_platform,
    get_region,
    with_climate,
)
from chip2grid.hardware import get_accelerator
from chip2grid.llm import Architecture, get_model, load_hf_config
from chip2grid.perf import get_engine
from chip2grid.scenario.schema import Scenario

BUILTIN_DIR = "builtin"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_SCENARIO_BYTES = 1_000_000
"""A scenario file larger than this is refused (files are hand-written; uploads are bounded)."""
MAX_EXTENDS_DEPTH = 8


class ScenarioError(InvalidParameterError):
    """A scenario field with a value that is not allowed (the field is its dotted path)."""


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios."""
    return list(_builtin_names())


@functools.cache
def _builtin_names() -> tuple[str, ...]:
    folder = resources.files(__package__).joinpath(BUILTIN_DIR)
    return tuple(
        sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    )


@functools.cache
def _builtin_scenario(name: str) -> Scenario:
    """A built-in scenario, read and validated once (scenarios are immutable)."""
    return scenario_from_dict(_parse_text(_builtin_text(name), name, ".yaml"))


def _builtin_text(name: str) -> str:
    if not _NAME_RE.match(name) or name not in list_scenarios():
        raise UnknownEntryError("scenario", name, list_scenarios())
    return resources.files(__package__).joinpath(BUILTIN_DIR, f"{name}.yaml").read_text("utf-8")


def _parse_text(text: str, origin: str, suffix: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise InvalidParameterError(origin, "(file)", "valid YAML or TOML", detail) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidParameterError(origin, type(data).__name__, "a mapping of scenario fields")
    return data


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidParameterError(
            "scenario", str(path), f"a built-in name ({', '.join(list_scenarios())}) or a file"
        )
    if path.suffix.lower() not in (".yaml", ".yml", ".toml"):
        raise InvalidParameterError("scenario", str(path), "a .yaml, .yml or .toml file")
    if path.stat().st_size > MAX_SCENARIO_BYTES:
        raise InvalidParameterError(
            "scenario", str(path), f"a file of at most {MAX_SCENARIO_BYTES:,} bytes"
        )
    return _parse_text(path.read_text("utf-8"), str(path), path.suffix.lower())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "supply":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve(data: dict[str, Any], folder: Path | None, seen: tuple[str, ...]) -> dict[str, Any]:
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError("extends", parent, "a built-in scenario name or a file path")
    if len(seen) >= MAX_EXTENDS_DEPTH or parent in seen:
        raise ScenarioError("extends", parent, "a chain without cycles, at most 8 deep")
    if parent in list_scenarios():
        base = _parse_text(_builtin_text(parent), parent, ".yaml")
        base = _resolve(base, None, (*seen, parent))
    else:
        path = Path(parent) if folder is None else folder / parent
        base = _resolve(_read_file(path), path.parent, (*seen, parent))
    merged = deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    merged["extends"] = parent
    return merged


def _loc(loc: tuple[int | str, ...]) -> str:
    """The dotted field path of a pydantic error location, without union-member tags."""
    parts: list[str] = []
    cls: Any = Scenario
    for part in loc:
        if cls is None or str(part) not in cls.model_fields:
            break
        parts.append(str(part))
        cls = _model_type(cls.model_fields[str(part)].annotation)
    if len(parts) < len([p for p in loc if isinstance(p, str) and "[" not in p and "-" not in p]):
        tail = [str(p) for p in loc[len(parts) :] if isinstance(p, str)]
        if tail and cls is not None and parts[-1:] != ["supply"]:
            parts.append(tail[0])  # an unknown key
    return ".".join(parts) or "scenario"


def _pick(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def scenario_from_dict(data: dict[str, Any], *, folder: Path | None = None) -> Scenario:
    """Validate plain data as a scenario (``extends`` resolved relative to ``folder``)."""
    resolved = _resolve(dict(data), folder, ())
    trace = _pick(resolved, ("workload", "trace"))
    if (
        folder is not None
        and isinstance(trace, str)
        and trace.endswith((".csv", ".jsonl", ".json"))
    ):
        local = folder / trace
        if not Path(trace).is_absolute() and local.is_file():
            resolved["workload"]["trace"] = str(local)
    try:
        scenario = Scenario.model_validate(resolved)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        err = errors[0]
        field = _loc(err["loc"])
        value = _pick(resolved, tuple(field.split(".")))
        if value is None:
            value = err.get("input")
        if err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            known = sorted(_fields_of(Scenario, parent))
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=3)
            raise ScenarioError(
                field,
                "(unknown field)",
                f"one of {', '.join(known)}",
                f"did you mean {', '.join(close)}?" if close else "",
            ) from None
        messages = [
            e["msg"].removeprefix("Value error, ") for e in errors if _loc(e["loc"]) == field
        ]
        raise ScenarioError(field, value, " or ".join(dict.fromkeys(messages))) from None
    check_catalog_ids(scenario)
    return _with_default_cooling(scenario)


def _with_default_cooling(scenario: Scenario) -> Scenario:
    """A scenario that names no ``site.cooling`` gets direct liquid cooling where its platform
    takes it, else the platform's own (:func:`chip2grid.facility.default_cooling_for`)."""
    site = scenario.site
    if "cooling" in site.model_fields_set:
        return scenario
    if site.platform:
        platform = get_platform(site.platform)
    else:
        try:
            platform = default_platform_for(scenario.deployment.accelerator)
        except InvalidParameterError:
            return scenario  # no platform: the cost layer says so where it needs one
    cooling = default_cooling_for(platform, site.cooling)
    if cooling == site.cooling:
        return scenario
    return scenario.model_copy(update={"site": site.model_copy(update={"cooling": cooling})})


def load_scenario(name_or_path: str | Path | None = None) -> Scenario:
    """A built-in scenario by name (default ``default``) or a YAML/TOML scenario file."""
    if name_or_path is None:
        name_or_path = "default"
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in _builtin_names():
        return _builtin_scenario(text)
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and path.suffix == "" and not path.exists():
        raise UnknownEntryError("scenario", text, list_scenarios())
    return scenario_from_dict(_read_file(path), folder=path.parent)


def default_scenario() -> Scenario:
    """The built-in default scenario."""
    return load_scenario("default")


def builtin_scenario_text(name: str = "default") -> str:
    """The commented YAML of a built-in scenario (``chip2grid init`` writes it)."""
    return _builtin_text(name)


def check_catalog_ids(scenario: Scenario) -> None:
    """Every id the scenario names exists in its catalog (errors name the field)."""
    checks: list[tuple[str, str | None, Callable[[str], object]]] = [
        ("deployment.accelerator", scenario.deployment.accelerator, get_accelerator),
        ("deployment.engine", scenario.deployment.engine, get_engine),
        ("site.region", scenario.site.region, get_region),
        ("site.cooling", scenario.site.cooling, get_cooling),
        ("site.platform", scenario.site.platform, get_platform),
        ("model", scenario.model, get_model_or_config),
    ]
    if scenario.serving.speculative is not None:
        checks.append(
            (
                "serving.speculative.draft_model",
                scenario.serving.speculative.draft_model,
                get_model_or_config,
            )
        )
    supply = scenario.energy.supply
    for name in [supply] if isinstance(supply, str) else list(supply):
        checks.append(("energy.supply", name, get_energy_source))
    for field, value, getter in checks:
        if value is None:
            continue
        try:
            getter(value)
        except UnknownEntryError as exc:
            raise ScenarioError(field, value, f"a catalog id; {exc}") from None


def scenario_region(scenario: Scenario) -> Region:
    """The scenario's region with the site's climate: its own hourly file if it gives one,
    averaged hourly or monthly as ``site.climate_resolution`` says."""
    site = scenario.site
    try:
        return with_climate(
            get_region(site.region),
            climate_file=site.climate_file,
            climate_resolution=site.climate_resolution,
        )
    except InvalidParameterError as exc:
        if exc.field in ("climate_file", "temperature_c", "wet_bulb_c"):
            raise ScenarioError("site.climate_file", site.climate_file, str(exc)) from None
        raise


def get_model_or_config(name: str) -> Architecture:
    """A catalog model by id or alias, or a local Hugging Face ``config.json`` by path."""
    if name.endswith(".json"):
        return load_hf_config(name)
    return get_model(name)


def _fields_of(model: type[BaseModel], path: tuple[int | str, ...]) -> list[str]:
    cls: Any = model
    for part in path:
        info = cls.model_fields.get(str(part))
        if info is None:
            return []
        cls = _model_type(info.annotation)
        if cls is None:
            return []
    return list(cls.model_fields)


def _model_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _model_type(arg)
            if found is not None:
                return found
    return None


def scenario_fields() -> list[str]:
    """Every dotted field path a sweep or an override may set."""
    out: list[str] = []

    def walk(cls: type[BaseModel], prefix: str) -> None:
        for name, info in cls.model_fields.items():
            sub = _model_type(info.annotation)
            if sub is not None and name != "supply":
                walk(sub, f"{prefix}{name}.")
            elif name not in ("extends",):
                out.append(prefix + name)

    walk(Scenario, "")
    return out


def apply_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A copy of ``scenario`` with dotted fields set (``{"site.region": "us-texas"}``)."""
    known = scenario_fields()
    data = scenario.to_dict()
    for path, value in overrides.items():
        if path not in known:
            close = difflib.get_close_matches(path, known, n=3)
            raise ScenarioError(
                path,
                value,
                "a scenario field (chip2grid schema lists them)",
                f"did you mean {', '.join(close)}?" if close else "",
            )
        node = data
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return scenario_from_dict(data)

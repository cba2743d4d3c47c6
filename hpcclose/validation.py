"""The rules every validated input follows, and the one-line errors that name its key and file.

Shared by simulation inputs (:mod:`hpcclose.config`), problem parameters, closure options, training
inputs and command-line options: a model with :data:`STRICT_INPUT` refuses unknown keys, wrong types
(``true`` is not an integer, ``"0.5"`` is not a number; an integer is a valid float) and inf / nan;
:func:`input_error` turns pydantic's report into ``source: key: message``; :func:`validate` reads TOML
text with ``--set`` overrides into a model.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import tomllib
from pydantic import BaseModel, ConfigDict, Strict, ValidationError

from .errors import InputError

#: The rules of every validated input: unknown keys are errors, values are frozen, types are strict (no
#: bool for an int, no string for a number; an int is a valid float) and inf / nan are refused.
STRICT_INPUT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
#: Annotation for tuple fields: TOML (and argparse) give lists; the items stay strict.
TomlArray = Strict(False)


def _is_union_tag(part: str) -> bool:
    """pydantic names the alternative of a union an error came from in its location ('int',
    'tuple[int, int]', "literal['auto']", 'constrained-float'): that is not a key."""
    return part in ("int", "float", "str", "bool") or "[" in part or re.fullmatch(r"[a-z]+(-[a-z]+)+", part) is not None


def _split(err: dict) -> tuple[str, str | None]:
    """(dotted key, union alternative or None) of a pydantic error; list indices are dropped."""
    loc = err["loc"]
    if err["type"] == "extra_forbidden":  # the unknown key itself, however it is spelled
        return ".".join(str(p) for p in loc if not isinstance(p, int)), None
    parts = [p for p in loc if isinstance(p, str)]
    tags = [p for p in parts if _is_union_tag(p)]
    return ".".join(p for p in parts if p not in tags) or "<top>", (tags[0] if tags else None)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: dict) -> str:
    """pydantic's message for one error, with the value it refused where that helps."""
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] not in ("value_error", "assertion_error") and not isinstance(err["input"], dict):
        msg += f" (got {_shown(err['input'])})"
    return msg


def _union_message(errors: list[dict]) -> str:
    """One message for the errors of a union's alternatives: the one whose type fitted but whose value
    did not (a bound, a length), else what the alternatives are."""
    fitted = [e for e in errors if not (e["type"].endswith("_type") or e["type"] in ("literal_error", "missing"))]
    if fitted:
        return _message(fitted[0])
    tags = dict.fromkeys(re.sub(r"literal\[(.*)\]", r"\1", _split(e)[1]).replace("constrained-", "")
                         .replace("tuple[", "[") for e in errors)
    whole = [e["input"] for e in errors if e["loc"] and e["loc"][-1] == _split(e)[1]]
    got = f", got {_shown(whole[0])}" if whole else ""
    return f"expected {' or '.join(tags)}{got}"


def input_error(exc: ValidationError, source: str | None, prefix: str = "", suffix: str = "") -> InputError:
    """One-line :class:`InputError` for the first problem pydantic found: ``source: prefix.key: message``
    (without ``source: `` when there is no source, e.g. options given in code).

    Shared by every validated input (simulation configs, problem parameters, training configs, command-line
    options). The errors of a union's alternatives (``cells = true`` against int | [nx, ny]) are one
    problem with one message.
    """
    errors = exc.errors()
    key, tag = _split(errors[0])
    if tag is None:
        msg = _message(errors[0])
    else:
        msg = _union_message([e for e in errors if _split(e)[0] == key and _split(e)[1] is not None])
    others = len(dict.fromkeys(_split(e)[0] for e in errors)) - 1
    more = f" (and {others} more problem(s))" if others else ""
    where = f"{source}: " if source else ""
    # a check of the whole model (no single key) is named by the model's own prefix, or not at all
    named = f"{prefix}{key}: " if key != "<top>" else (f"{prefix.rstrip('.')}: " if prefix else "")
    return InputError(f"{where}{named}{msg}{suffix}{more}")


class Options(BaseModel):
    """Base of the models of command-line options (``hpcclose sample``, ``bench``): the rules of
    :data:`STRICT_INPUT`; fields are named as argparse's ``dest`` and errors name the option
    (``--max-norm``). Validate with :func:`check_options`."""

    model_config = ConfigDict(**STRICT_INPUT, alias_generator=lambda name: "--" + name.replace("_", "-"))


def check_options(model: type[Options], values: dict[str, Any], source: str) -> Options:
    """``values`` (by field name) validated as ``model``; a problem is an :class:`InputError`
    ``source: --option: message``."""
    try:
        return model(**{model.model_fields[k].alias: v for k, v in values.items()})
    except ValidationError as exc:
        raise input_error(exc, source) from None


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    """Apply ``section.key=value`` overrides (values in TOML syntax) to parsed TOML data."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word: take it as a string (closure.name=pn)
        node = data
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {key}: {p} is not a table in {source}")
        node[leaf] = value
    return data


def validate(model: type[BaseModel], text: str, source: str, sets: list[str] | None = None, **extra):
    """TOML ``text`` (plus ``--set`` overrides) validated as ``model``; every problem is an
    :class:`InputError` naming the key and ``source``. Shared by simulation and training inputs."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {exc}") from None
    data = apply_overrides(data, sets or [], source)
    try:
        return model(**data, source=source, text=text, **extra)
    except ValidationError as exc:
        raise input_error(exc, source) from None


def read_input(path: str | Path, what: str = "input file") -> str:
    """The text of an input file, or an :class:`InputError` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
                         "TOML files are UTF-8") from None



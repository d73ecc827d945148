"""Loading patient records from JSON into attrs record classes, strictly.

Works for any attrs class whose fields are declared with :func:`spinerules.records.schema.fact`:
annotations give the types (``bool``, ``int``, ``float``, ``str``, ``datetime.date``,
enumerations, ``Literal`` strings, nested attrs classes, ``tuple[X, ...]`` and ``list[X]``,
each optionally ``| None``), and the field metadata gives the inclusive ``min`` / ``max``.

Nothing is coerced: a string is never a number, a boolean is never a number (although Python
says ``True == 1``), a number is never a boolean, ``71.5`` is not an integer, NaN and
Infinity are not numbers. Integers are accepted where a float is expected. A missing key or
``null`` is *unknown* (``None``). Every problem in the record is reported, each with the path
of the offending value:

    >>> from spinerules.records.spine import Patient
    >>> load_record_json(Patient, '{"age": 130, "sex": "f"}')
    Traceback (most recent call last):
      ...
    spinerules.records.loader.RecordError: age: expected a whole number from 0 to 120, got 130
    sex: expected one of "female", "male", got "f" (did you mean "female"?)

The machinery is a :class:`cattrs.Converter` with detailed validation and
``forbid_extra_keys``; every field gets a strict structure hook built from its annotation and
metadata, and the resulting exception groups are flattened into :class:`RecordProblem` items.

Hostile input is bounded: a list longer than ``max_list_length`` items (default 1,000, the
default of :attr:`spinerules.Limits.max_list_length`) is refused at its own path without
looking at its items; JSON text larger than ``max_bytes`` (default 4 MiB) or nested too deeply
for the JSON parser is refused at ``$``; at most :data:`MAX_PROBLEMS` problems are reported.
"""

from __future__ import annotations

import contextvars
import datetime
import difflib
import enum
import itertools
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from spinerules.records.schema import OrderedEnum

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LIST_LENGTH",
    "MAX_PROBLEMS",
    "RecordError",
    "RecordProblem",
    "dump_record",
    "load_record",
    "load_record_json",
]

T = TypeVar("T")

_Hook = Callable[[Any, Any], Any]
"""A cattrs structure hook: ``(value, type) -> structured value``."""

ROOT = "$"
"""The path of the JSON document itself."""

DEFAULT_MAX_LIST_LENGTH = 1_000
"""Items allowed in any one list of a record (``Limits.max_list_length``)."""

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
"""Size of the JSON text :func:`load_record_json` accepts (UTF-8 bytes)."""

MAX_PROBLEMS = 100
"""Problems listed in one :class:`RecordError`; a last ``$`` problem says that more exist."""

_MAX_KEY_SHOWN = 80
"""Unknown keys longer than this are shortened in problem paths."""

_LIST_LIMIT: contextvars.ContextVar[int] = contextvars.ContextVar(
    "spinerules_records_max_list_length", default=DEFAULT_MAX_LIST_LENGTH
)
"""The list limit of the load in progress (per thread and task, so loads may run at once)."""


# --- public results ----------------------------------------------------------------------


@attrs.frozen
class RecordProblem:
    """One thing wrong with a record: where (``fractures[0].level``, ``$``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RecordError(Exception):
    """A record could not be loaded; ``problems`` lists everything wrong with it.

    ``str(error)`` is one ``path: message`` line per problem; ``source`` names the document
    (a file name, ``"<stdin>"``) for callers that want to prefix it.
    """

    problems: tuple[RecordProblem, ...]
    source: str | None

    def __init__(self, problems: Iterable[RecordProblem], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        super().__init__(*self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,), {"source": self.source})


# --- public functions --------------------------------------------------------------------


def load_record(
    cls: type[T],
    data: object,
    *,
    source: str | None = None,
    max_list_length: int = DEFAULT_MAX_LIST_LENGTH,
) -> T:
    """Build an instance of the attrs record class ``cls`` from JSON-shaped ``data``.

    ``data`` is what :func:`json.loads` returns (dicts, lists, str, int, float, bool, None).
    Raises :class:`RecordError` listing every problem found, each with its path. A list with
    more than ``max_list_length`` items is one problem at the list's path
    (``fractures: expected at most 1000 items, got 5000``); its items are not examined.
    """
    if not isinstance(data, dict):
        noun = cls.__name__.lower()
        problem = RecordProblem(
            ROOT, f"expected a JSON object (the {noun} record), got {_describe(data)}"
        )
        raise RecordError([problem], source=source)
    token = _LIST_LIMIT.set(max_list_length)
    try:
        result: T = _CONVERTER.structure(data, cls)
    except (ClassValidationError, IterableValidationError, _Invalid) as exc:
        raise RecordError(_capped(_problems(exc, ROOT)), source=source) from None
    except RecursionError:
        problem = RecordProblem(ROOT, "the record is nested too deeply")
        raise RecordError([problem], source=source) from None
    finally:
        _LIST_LIMIT.reset(token)
    return result


def load_record_json(
    cls: type[T],
    text: str | bytes,
    *,
    source: str = "<patient>",
    max_list_length: int = DEFAULT_MAX_LIST_LENGTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> T:
    """Parse JSON ``text`` and load it as ``cls`` (see :func:`load_record`).

    Text that is not JSON is reported at path ``$`` with the line and column of the error;
    so are text larger than ``max_bytes`` (UTF-8 bytes) and nesting deeper than the JSON
    parser can follow.
    """
    size = _size(text, max_bytes)
    if isinstance(text, str) and text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark, as json.loads already skips for bytes
    if size > max_bytes:
        message = f"the record is too large ({size} bytes; the limit is {max_bytes})"
        raise RecordError([RecordProblem(ROOT, message)], source=source)
    try:
        data = json.loads(text, object_pairs_hook=_JsonObject.from_pairs)
    except json.JSONDecodeError as exc:
        what = exc.msg.removesuffix(" at")  # "Invalid control character at"
        message = f"not valid JSON: {what} at line {exc.lineno}, column {exc.colno}"
        raise RecordError([RecordProblem(ROOT, message)], source=source) from None
    except UnicodeDecodeError as exc:
        message = f"not valid JSON: the text is not UTF-8 ({exc.reason} at byte {exc.start})"
        raise RecordError([RecordProblem(ROOT, message)], source=source) from None
    except RecursionError:
        message = "not valid JSON: arrays and objects are nested too deeply"
        raise RecordError([RecordProblem(ROOT, message)], source=source) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        message = f"not valid JSON: {exc}".split(";")[0]
        raise RecordError([RecordProblem(ROOT, message)], source=source) from None
    return load_record(cls, data, source=source, max_list_length=max_list_length)


def _size(text: str | bytes, max_bytes: int) -> int:
    """The UTF-8 size of ``text``, without encoding text that is too large anyway."""
    if isinstance(text, bytes | bytearray | memoryview):
        return len(text)
    if len(text) > max_bytes or len(text) * 4 <= max_bytes:
        return len(text)  # at least this many bytes; or surely under the limit
    return len(text.encode("utf-8", "surrogatepass"))


def _capped(problems: Iterable[RecordProblem]) -> list[RecordProblem]:
    """At most :data:`MAX_PROBLEMS` problems, then one saying that more were left out."""
    it = iter(problems)
    out = [RecordProblem(_printable(p.path), _printable(p.message))
           for p in itertools.islice(it, MAX_PROBLEMS)]
    if next(it, None) is not None:
        out.append(RecordProblem(ROOT, f"more problems not shown (only the first {MAX_PROBLEMS})"))
    return out


def dump_record(obj: object) -> dict[str, Any]:
    """The JSON-compatible dict for an attrs record, leaving out unknown (``None``) fields.

    ``load_record(type(obj), dump_record(obj)) == obj``.
    """
    if not attrs.has(type(obj)):
        raise TypeError(f"expected an attrs record instance, got {type(obj).__name__}")
    result: dict[str, Any] = _CONVERTER.unstructure(obj)
    return result


# --- problems raised by the hooks --------------------------------------------------------


class _Invalid(ValueError):
    """A value that does not fit its field; ``message`` is the user-facing text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _DuplicateKey(ValueError):
    """A JSON object names the same key twice."""


class _JsonObject(dict[str, Any]):
    """A parsed JSON object that remembers keys given more than once."""

    duplicate_keys: tuple[str, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = cls(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            dups: list[str] = []
            for key, _ in pairs:
                if key in seen and key not in dups:
                    dups.append(key)
                seen.add(key)
            obj.duplicate_keys = tuple(dups)
        return obj


def _printable(text: str) -> str:
    """``text`` with unpaired surrogates escaped (``\\ud800``), so it can be printed as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _describe(value: object) -> str:
    """How a received JSON value is shown after "got"."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**60:
        return "a number with more than 60 digits"
    if isinstance(value, bool | int | float | str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:56] + '..."'
    return f"a Python {type(value).__name__}"


def _number(value: float) -> str:
    """A bound as written in a message: ``0``, ``100``, ``-2.5``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _range(metadata: Mapping[str, Any]) -> str:
    low, high = metadata.get("min"), metadata.get("max")
    if low is not None and high is not None:
        return f" from {_number(low)} to {_number(high)}"
    if low is not None:
        return f" of at least {_number(low)}"
    if high is not None:
        return f" of at most {_number(high)}"
    return ""


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` when ``word`` is a string close to one of ``choices``."""
    if not isinstance(word, str) or len(word) > _MAX_KEY_SHOWN:
        return ""
    options = list(choices)
    key = word.casefold()
    close = [c for c in options if c.casefold() == key]
    if not close and key:
        prefixed = [c for c in options if c.casefold().startswith(key)]
        containing = [c for c in options if key in c.casefold()] if len(key) >= 4 else []
        close = prefixed if len(prefixed) == 1 else containing if len(containing) == 1 else []
    close = close or difflib.get_close_matches(word, options, n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _describe_choices(values: list[object], ordered: bool) -> str:
    """``"female", "male"``; ordered runs like spine levels compact to ``C1..C7, T1..T12``."""
    if ordered and all(isinstance(v, str) for v in values):
        parts = [re.fullmatch(r"(\D*)(\d+)", str(v)) for v in values]
        if all(parts):
            runs: list[list[tuple[str, int]]] = []
            for m in parts:
                assert m is not None
                prefix, num = m.group(1), int(m.group(2))
                last = runs[-1][-1] if runs else None
                if last is not None and last[0] == prefix and last[1] + 1 == num:
                    runs[-1].append((prefix, num))
                else:
                    runs.append([(prefix, num)])
            out: list[str] = []
            for run in runs:
                first, end = run[0], run[-1]
                if len(run) >= 3:
                    out.append(f"{first[0]}{first[1]}..{end[0]}{end[1]}")
                else:
                    out.extend(f"{p}{n}" for p, n in run)
            return ", ".join(out)
    return ", ".join(json.dumps(v, ensure_ascii=False) for v in values)


# --- strict hooks, built from annotations and metadata -----------------------------------


def _optional_inner(annotation: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, ``(X, False)`` otherwise."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(annotation)):
            return args[0], True
        raise TypeError(f"unsupported union type in a record: {annotation!r}")
    return annotation, False


def _hook_for(annotation: Any, metadata: Mapping[str, Any]) -> _Hook:
    """A strict structure hook for one field (or list element) type."""
    inner, optional = _optional_inner(annotation)
    hook = _strict_hook(inner, metadata)
    if not optional:
        return hook

    def optional_hook(value: Any, _type: Any) -> Any:
        return None if value is None else hook(value, inner)

    return optional_hook


def _strict_hook(tp: Any, metadata: Mapping[str, Any]) -> _Hook:
    origin = typing.get_origin(tp)
    low, high = metadata.get("min"), metadata.get("max")

    def in_range(x: float) -> bool:
        return (low is None or x >= low) and (high is None or x <= high)

    if tp is bool:

        def bool_hook(value: Any, _type: Any) -> bool:
            if isinstance(value, bool):
                return value
            raise _Invalid(f"expected true or false, got {_describe(value)}")

        return bool_hook

    if tp is int:
        int_expected = "expected a whole number" + _range(metadata)

        def int_hook(value: Any, _type: Any) -> int:
            if type(value) is int and in_range(value):
                return value
            raise _Invalid(f"{int_expected}, got {_describe(value)}")

        return int_hook

    if tp is float:
        float_expected = "expected a number" + _range(metadata)

        def float_hook(value: Any, _type: Any) -> float:
            if type(value) in (int, float) and math.isfinite(value) and in_range(value):
                return float(value)
            raise _Invalid(f"{float_expected}, got {_describe(value)}")

        return float_hook

    if tp is str:

        def str_hook(value: Any, _type: Any) -> str:
            if isinstance(value, str):
                if _printable(value) is value:
                    return value
                raise _Invalid(f"expected Unicode text, got {_describe(value)}, which has an "
                               "unpaired surrogate escape")
            raise _Invalid(f"expected a string, got {_describe(value)}")

        return str_hook

    if tp is datetime.date:

        def date_hook(value: Any, _type: Any) -> datetime.date:
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                try:
                    return datetime.date.fromisoformat(value)
                except ValueError:
                    pass
            raise _Invalid(f'expected a date as "YYYY-MM-DD", got {_describe(value)}')

        return date_hook

    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_hook(tp)

    if origin is typing.Literal:
        return _choice_hook({v: v for v in typing.get_args(tp)}, ordered=False)

    if origin in (tuple, list):
        args = typing.get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"unsupported tuple type in a record (use tuple[X, ...]): {tp!r}")
        if len(args) < 1:
            raise TypeError(f"a list type in a record needs its element type: {tp!r}")
        return _list_hook(args[0], make=tuple if origin is tuple else list)

    if isinstance(tp, type) and attrs.has(tp):
        record_cls = tp

        def record_hook(value: Any, _type: Any) -> Any:
            return _CONVERTER.structure(value, record_cls)

        return record_hook

    raise TypeError(f"unsupported field type in a record: {tp!r}")


def _enum_hook(enum_cls: type[enum.Enum]) -> _Hook:
    return _choice_hook({m.value: m for m in enum_cls}, ordered=issubclass(enum_cls, OrderedEnum))


def _choice_hook(by_value: dict[Any, Any], *, ordered: bool) -> _Hook:
    """Accept exactly one of the given JSON values (same type too: ``1`` is not ``True``)."""
    values = list(by_value)
    expected = "expected one of " + _describe_choices(values, ordered)
    spellings = [v for v in values if isinstance(v, str)]

    def choice_hook(value: Any, _type: Any) -> Any:
        for v in values:
            if type(v) is type(value) and v == value:
                return by_value[v]
        raise _Invalid(f"{expected}, got {_describe(value)}{_did_you_mean(value, spellings)}")

    return choice_hook


def _list_hook(element: Any, *, make: Callable[[list[Any]], Any]) -> _Hook:
    element_hook = _hook_for(element, {})

    def list_hook(value: Any, _type: Any) -> Any:
        if not isinstance(value, list):
            raise _Invalid(f"expected an array, got {_describe(value)}")
        limit = _LIST_LIMIT.get()
        if len(value) > limit:
            raise _Invalid(f"expected at most {limit} items, got {len(value)}")
        items: list[Any] = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                items.append(element_hook(item, element))
            except Exception as exc:
                note = IterableValidationNote(
                    f"Structuring {element!r} @ index {index}", index, element
                )
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            raise IterableValidationError("While structuring a list", errors, list)
        return make(items)

    return list_hook


def _record_hook_factory(cls: type[Any]) -> _Hook:
    """The structure hook for an attrs record class: a strict hook per field."""
    hints = typing.get_type_hints(cls)
    overrides = {
        f.name: override(struct_hook=_hook_for(hints[f.name], f.metadata))
        for f in attrs.fields(cls)
    }
    # Typed loosely: mypy cannot tell the ``**overrides`` from the named bool options.
    make_fn: Callable[..., _Hook] = make_dict_structure_fn
    generated = make_fn(cls, _CONVERTER, **overrides)

    def record_hook(value: Any, _type: Any) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(f"expected a JSON object, got {_describe(value)}")
        duplicates: list[Exception] = []
        for key in getattr(value, "duplicate_keys", ()):
            dup = _DuplicateKey("this key appears more than once in the object")
            dup.__notes__ = [AttributeValidationNote(f"Duplicate key {key}", str(key), object)]
            duplicates.append(dup)
        try:
            result = generated(value, cls)
        except ClassValidationError as exc:
            if duplicates:
                raise ClassValidationError(
                    exc.message, [*duplicates, *exc.exceptions], cls
                ) from None
            raise
        if duplicates:
            raise ClassValidationError(f"While structuring {cls.__name__}", duplicates, cls)
        return result

    return record_hook


# --- from exception groups to problems ---------------------------------------------------


def _join(path: str, name: str) -> str:
    return name if path == ROOT else f"{path}.{name}"


def _problems(exc: BaseException, path: str) -> Iterator[RecordProblem]:
    """Flatten cattrs' nested validation errors into located problems, in field order."""
    if isinstance(exc, ClassValidationError):
        with_notes, others = exc.group_exceptions()
        for sub, attr_note in with_notes:
            yield from _problems(sub, _join(path, attr_note.name))
        for sub in others:
            yield from _problems(sub, path)
    elif isinstance(exc, IterableValidationError):
        with_index, others = exc.group_exceptions()
        for sub, item_note in with_index:
            yield from _problems(sub, f"{path}[{item_note.index}]")
        for sub in others:
            yield from _problems(sub, path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        names = [f.name for f in attrs.fields(exc.cl)]
        for key in sorted(exc.extra_fields, key=str):
            name = str(key)
            shown = name if len(name) <= _MAX_KEY_SHOWN else name[: _MAX_KEY_SHOWN - 3] + "..."
            hint = _did_you_mean(name, names) if len(name) <= _MAX_KEY_SHOWN else ""
            yield RecordProblem(_join(path, shown), "unknown field" + hint)
    elif isinstance(exc, _Invalid | _DuplicateKey):
        yield RecordProblem(path, str(exc))
    elif isinstance(exc, KeyError):
        yield RecordProblem(path, "required field is missing")
    else:
        yield RecordProblem(path, f"{type(exc).__name__}: {exc}")


# --- the converter -----------------------------------------------------------------------


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(
        detailed_validation=True,
        forbid_extra_keys=True,
        omit_if_default=True,
        unstruct_collection_overrides={tuple: list},
    )
    # Strict hooks for bare types too, so that the converter never coerces on its own.
    for tp in (bool, int, float, str, datetime.date):
        converter.register_structure_hook(tp, _strict_hook(tp, {}))
    converter.register_structure_hook_factory(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum_hook
    )
    converter.register_structure_hook_factory(attrs.has, _record_hook_factory)
    converter.register_unstructure_hook(datetime.date, datetime.date.isoformat)
    return converter


_CONVERTER = _make_converter()

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
    spinerules.records.RecordError: age: expected a whole number from 0 to 120, got 130
    sex: expected one of "female", "male", got "f" (did you mean "female"?)

A valid record is read by a loader generated per record class from its attrs fields
(:func:`_make_fast_loader`): one pass, checking and converting each value. Anything it does
not accept goes to the machinery that names the problems: a :class:`cattrs.Converter` with
detailed validation and ``forbid_extra_keys``; every field gets a strict structure hook
built from its annotation and metadata, and the resulting exception groups are flattened
into :class:`RecordProblem` items. Both accept exactly the same records.

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
import keyword
import math
import re
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    "json_check_lines",
    "json_ok",
    "load_record",
    "load_record_json",
    "validate_record",
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


# Shown (tracebacks, doctests, pickles) under the path users import it from.
RecordError.__module__ = "spinerules.records"


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
    fast = _fast_loader(cls)
    if fast is not None:
        try:
            built: T = fast(data, max_list_length)
        except Exception:  # something is wrong: the converter below finds and names it
            pass
        else:
            _remember_valid(built, max_list_length)
            return built
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
    _remember_valid(result, max_list_length)
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


# --- the generated loaders ---------------------------------------------------------------


class _Refused(Exception):
    """A generated loader met something it does not accept (the converter names it)."""


def _refuse(*_args: Any) -> Any:
    raise _Refused


_LOADERS: dict[type[Any], Callable[[Any, int], Any] | None] = {}


def _fast_loader(cls: type[Any]) -> Callable[[Any, int], Any] | None:
    """The generated loader of one attrs record class (see :func:`_make_fast_loader`);
    None for a class it cannot be made for (the converter alone loads those)."""
    try:
        return _LOADERS[cls]
    except KeyError:
        pass
    try:
        loader = _make_fast_loader(cls)
    except (TypeError, ValueError, NameError):  # an unusual class: the converter's alone
        loader = None
    _LOADERS[cls] = loader
    return loader


_CHECKERS: dict[type[Any], Callable[[Any, int], Any] | None] = {}


def _fast_checker(cls: type[Any]) -> Callable[[Any, int], Any] | None:
    """The generated check of one record class's JSON (``_make_fast_loader(cls, True)``);
    None for a class it cannot be made for."""
    try:
        return _CHECKERS[cls]
    except KeyError:
        pass
    _MAKING.add(cls)  # (a class that holds itself checks itself by a late lookup)
    try:
        checker = _make_fast_loader(cls, check=True)
    except (TypeError, ValueError, NameError):
        checker = None
    finally:
        _MAKING.discard(cls)
    _CHECKERS[cls] = checker
    return checker


_MAKING: set[type[Any]] = set()  #: record classes whose check is being generated


def json_ok(cls: type[Any], data: object, max_list_length: int = DEFAULT_MAX_LIST_LENGTH
            ) -> bool:
    """Whether :func:`load_record` would load ``data`` as ``cls`` without a problem, found
    without building the record (True), for code that reads the JSON itself. False when
    something is wrong, and also when it cannot tell (a class with a required field or a
    default other than None): :func:`load_record` then says what is wrong, or loads it."""
    checker = _fast_checker(cls)
    if checker is None or type(data) is not dict:
        return False
    try:
        return checker(data, max_list_length) is True
    except Exception:  # something is wrong (load_record names it)
        return False


#: a list's path -> its elements' values kept in its rows: each a path of the element's
#: fields and an expression of its JSON value ``v`` (see :func:`json_check_lines`)
Rows = Mapping[tuple[str, ...], Sequence[tuple[tuple[str, ...], str]]]


def json_check_lines(cls: type[Any], bound: Mapping[tuple[str, ...], tuple[str, str]],
                     missing: str = "None", rows: Rows | None = None
                     ) -> tuple[list[str], dict[str, Any]] | None:
    """The check of :func:`json_ok` as lines of Python, for generated code that reads the
    JSON itself (``engine.codegen.JsonGenerator``) and checks it in the same pass: they
    check the dict ``record`` (and ``limit``, the longest list allowed) as ``cls`` and
    call ``refuse()`` (or raise) at the first thing :func:`json_ok` would not accept.
    ``bound`` maps a path of fields to a local and an expression of ``v``: the lines set
    the local to the expression of the value ``v`` at that path once it is checked, or to
    ``missing`` where it is missing or null (so each value is looked up once). ``v`` is
    then the value as the loader makes it (a float, an enumeration's member, a date, a
    tuple of those), but for a record (set before its values are) or a list of records:
    their JSON. The records of ``cls`` are checked inline; the
    elements of lists by :func:`json_ok`'s checks, but those of a list of records in
    ``rows`` (its path bound too): they are checked inline, and the list's local is set
    to their rows, one tuple per element of its values ``rows`` asks for (each an
    expression of its value ``v``, as ``bound``'s, or ``missing``), in that order. With the names
    the lines use; None for a class :func:`json_ok` cannot tell about."""
    ns: dict[str, Any] = {"type": type, "list": list, "tuple": tuple, "float": float,
                          "int": int, "str": str,
                          "getattr": getattr, "isinstance": isinstance, "len": len,
                          "dict": dict, "refuse": _refuse, "printable": _printable,
                          "inf": math.inf, "DATE": _DATE.fullmatch,
                          "fromiso": datetime.date.fromisoformat,
                          "loader_of": _fast_loader, "checker_of": _fast_checker}
    lines: list[str] = []
    try:
        if not _check_block(cls, "record", "_j", (), bound, missing, ns, lines, "", [cls],
                            rows or {}):
            return None
    except (TypeError, ValueError, NameError):  # an unusual class: json_ok's own way
        return None
    return lines, ns


def _check_block(cls: type[Any], var: str, tag: str, path: tuple[str, ...],
                 bound: Mapping[tuple[str, ...], tuple[str, str]], missing: str,
                 ns: dict[str, Any], lines: list[str], indent: str,
                 making: list[type[Any]], rows: Rows) -> bool:
    """Add the lines checking ``var``, a JSON object for ``cls`` at ``path`` (see
    :func:`json_check_lines`); False when :func:`json_ok` cannot tell about ``cls``.

    The fields the code reads come first; when the object has no other key (the count of
    keys found with a value is its length: see :func:`_no_other_keys`), the others, all
    missing, are not looked up."""
    hints = typing.get_type_hints(cls)
    fields = attrs.fields(cls)
    ns[f"{tag}KEYS"] = frozenset(f.name for f in fields)
    count = f"{tag}n"  # the keys found with a value (see _no_other_keys)
    lines += [f"{indent}{count} = 0",
              f"{indent}if type({var}) is not dict:",
              f"{indent}    if not isinstance({var}, dict) or getattr({var}, "
              "'duplicate_keys', ()):",
              f"{indent}        refuse()",
              f"{indent}    {count} = -1"]

    def read(here: tuple[str, ...]) -> bool:
        return here in rows or any(p[:len(here)] == here for p in bound)

    def field(i: int, f: attrs.Attribute[Any], indent: str) -> bool:
        if not f.init or f.default is not None:
            return False
        tp, optional = _optional_inner(hints[f.name])
        if not optional:
            return False
        here = (*path, f.name)
        ns[f"{tag}K{i}"] = f.name
        lines.append(f"{indent}v = {var}.get({tag}K{i})")
        inner = [local for p, (local, _) in bound.items() if p[:len(here)] == here
                 and p != here]
        if isinstance(tp, type) and attrs.has(tp) and tp not in making:
            # a record in the record: checked here, its values bound (missing if it is)
            if here in bound:  # (the record itself: before its own values take ``v``)
                local, value = bound[here]
                lines.append(f"{indent}{local} = {missing} if v is None else {value}")
            if inner:
                lines.append(f"{indent}{' = '.join(inner)} = {missing}")
            lines.extend([f"{indent}if v is not None:", f"{indent}    {count} += 1",
                          f"{indent}    {tag}{i} = v"])
            return _check_block(tp, f"{tag}{i}", f"{tag}{i}_", here, bound, missing, ns,
                                lines, indent + "    ", [*making, tp], rows)
        if inner:  # (a path through something that is not a record of the record)
            return False
        if here in rows:
            return here in bound and _check_rows(
                tp, f"{tag}{i}", rows[here], bound[here][0], missing, ns, lines, indent,
                count)
        if here not in bound:
            tests = _fast_value(tp, f.metadata, f"{tag}{i}", ns, check=True)
            lines.extend([f"{indent}if v is not None:", f"{indent}    {count} += 1"])
            lines.extend(f"{indent}    {line}" for line in tests)
            return True
        # its value, from ``v`` as the loader makes it (the lines that check it convert
        # it), but for records, which stay JSON (a record in a record checks itself)
        local, value = bound[here]
        json = (isinstance(tp, type) and attrs.has(tp)) or _records_list(tp)
        tests = _fast_value(tp, f.metadata, f"{tag}{i}", ns, check=json)
        lines.extend([f"{indent}if v is not None:", f"{indent}    {count} += 1"])
        lines.extend(f"{indent}    {line}" for line in tests)
        lines.extend([f"{indent}    {local} = {value}", f"{indent}else:",
                      f"{indent}    {local} = {missing}"])
        return True

    first = [(i, f) for i, f in enumerate(fields) if read((*path, f.name))]
    others = [(i, f) for i, f in enumerate(fields) if not read((*path, f.name))]
    if not all(field(i, f, indent) for i, f in first):
        return False
    if not others:
        lines.append(indent + _no_other_keys(var, count, f"{tag}KEYS"))
        return True
    lines.append(f"{indent}if {count} != len({var}):")  # (else the others are missing)
    if not all(field(i, f, indent + "    ") for i, f in others):
        return False
    lines.append(indent + "    " + _no_other_keys(var, count, f"{tag}KEYS"))
    return True


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

def _records_list(tp: Any) -> bool:
    """Whether ``tp`` is a list type of records."""
    if typing.get_origin(tp) not in (tuple, list):
        return False
    element = _optional_inner(typing.get_args(tp)[0])[0] if typing.get_args(tp) else None
    return isinstance(element, type) and attrs.has(element)


def _check_rows(tp: Any, tag: str, columns: Sequence[tuple[tuple[str, ...], str]],
                local: str, missing: str, ns: dict[str, Any], lines: list[str], indent: str,
                count: str) -> bool:
    """Add the lines checking ``v``, a JSON list of records of list type ``tp``, each
    element inline, and setting ``local`` to its rows (see :func:`json_check_lines`);
    False when it cannot."""
    if typing.get_origin(tp) not in (tuple, list):
        return False
    element, none_ok = _optional_inner(typing.get_args(tp)[0])
    if none_ok or not (isinstance(element, type) and attrs.has(element)):
        return False
    x, made = f"{tag}x", f"{tag}r"
    kept = {fields: (f"{tag}c{k}", value) for k, (fields, value) in enumerate(columns)}
    row = ", ".join(name for name, _ in kept.values()) + ("," if len(kept) == 1 else "")
    lines += [f"{indent}if v is not None:", f"{indent}    {count} += 1",
              f"{indent}    if type(v) is not list or len(v) > limit: refuse()",
              f"{indent}    {made} = []", f"{indent}    for {x} in v:"]
    if not _check_block(element, x, f"{x}_", (), kept, missing, ns, lines,
                        indent + "        ", [element], {}):
        return False
    lines += [f"{indent}        {made}.append(({row}))", f"{indent}    {local} = {made}",
              f"{indent}else:", f"{indent}    {local} = {missing}"]
    return True


def _no_other_keys(var: str, count: str, keys: str) -> str:
    """The test that JSON object ``var`` has no key but ``keys`` (a frozenset's name), in
    the generated checks and loaders. Each declared key is looked up anyway, and those
    found with a value (not null) are counted in ``count``: when they are all of the
    object's keys, it has no other; else ``keys() <= KEYS`` tells (a key with a null
    value, or one not declared). The count is -1 for a ``dict`` subclass, which so is
    always checked key by key. The outcome is the set comparison's, which it spares on
    most objects (about 75 ns an object on CPython 3.11)."""
    return f"if {count} != len({var}) and not {var}.keys() <= {keys}: refuse()"


def _make_fast_loader(cls: type[Any], check: bool = False) -> Callable[[Any, int], Any] | None:
    """A loader for JSON-shaped data of a valid record: one straight-line function per
    record class, generated from its attrs fields (names, annotations, ``min``/``max``
    metadata, defaults), that checks and converts every value in one pass and builds the
    instance, or raises at the first thing it does not accept.

    It accepts exactly what the converter accepts, and builds the same instance (the same
    tests, in the same terms: ``bool`` is ``True``/``False``, an ``int`` is an ``int`` in
    range, a ``float`` field takes a finite ``int`` or ``float`` in range, a string is
    printable text, a date is ``YYYY-MM-DD``, an enumeration is one of its values,
    objects have only the class's keys and none twice, lists are JSON arrays within the
    list limit); anything else, it refuses, and :func:`load_record` hands the data to the
    converter, whose detailed validation lists every problem with its path. A valid record
    (the usual case) is so read once, without the converter's exception bookkeeping.
    Only the class's own field names (Python identifiers) go into the text; keys, types,
    bounds and defaults are names bound in the function's namespace.

    With ``check``, the function only checks (the same tests; it builds nothing and
    returns True), for a class whose every field is an optional fact whose default is None
    (else None: no check is made): see :func:`json_ok`.
    """
    hints = typing.get_type_hints(cls)
    ns: dict[str, Any] = {"cls": cls, "dict": dict, "type": type, "list": list,
                          "tuple": tuple, "float": float, "getattr": getattr,
                          "isinstance": isinstance, "len": len, "refuse": _refuse,
                          "printable": _printable, "inf": math.inf, "DATE": _DATE.fullmatch,
                          "fromiso": datetime.date.fromisoformat,
                          "loader_of": _fast_loader, "checker_of": _fast_checker}
    fields = attrs.fields(cls)
    ns["KEYS"] = frozenset(f.name for f in fields)
    lines = ["def load(d, limit):",
             "    n = 0",  # the keys found with a value (see _no_other_keys)
             "    if type(d) is not dict:",
             "        if not isinstance(d, dict) or getattr(d, 'duplicate_keys', ()):",
             "            refuse()",
             "        n = -1",
             "    get = d.get"]
    args = []
    for i, f in enumerate(fields):
        name = f.alias if getattr(f, "alias", None) else f.name
        if not (f.name.isidentifier() and name.isidentifier()) or keyword.iskeyword(name) \
                or not f.init:
            return None
        tp, optional = _optional_inner(hints[f.name])
        ns[f"K{i}"] = f.name
        default = f.default
        test = ["        " + line for line in _fast_value(tp, f.metadata, i, ns, check)]
        if default is None and optional:  # the usual fact: missing or null is unknown
            lines += [f"    v = get(K{i})", "    if v is not None:", "        n += 1", *test]
        elif check:  # (code reading the JSON reads a missing fact as None)
            return None
        else:
            if default is attrs.NOTHING:  # required: missing, it is refused
                missing = "refuse()"
            elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    return None
                ns[f"F{i}"] = default.factory
                missing = f"F{i}()"
            else:
                ns[f"D{i}"] = default
                missing = f"D{i}"
            lines += [f"    v = get(K{i}, refuse)",
                      f"    if v is refuse: v = {missing}",
                      "    elif v is None: " + ("pass" if optional else "refuse()"),
                      "    else:", "        n += 1", *test]
        if not check:
            lines.append(f"    a{i} = v")
        args.append(f"{name}=a{i}")
    lines += ["    " + _no_other_keys("d", "n", "KEYS"),
              "    return True" if check else f"    return cls({', '.join(args)})"]
    what = "check" if check else "loader"
    code = compile("\n".join(lines), f"<record {what} of {cls.__qualname__}>", "exec")
    exec(code, ns)  # text made of the class's own field names (see above)
    load: Callable[[Any, int], Any] = ns["load"]
    return load


def _fast_value(tp: Any, metadata: Mapping[str, Any], i: int | str, ns: dict[str, Any],
                check: bool = False) -> list[str]:
    """Lines that check (and convert) ``v``, a value of type ``tp``, or refuse it; with
    ``check``, lines that only check it (nested records by their checks, nothing built)."""
    origin = typing.get_origin(tp)
    low, high = metadata.get("min"), metadata.get("max")
    ns[f"L{i}"] = -math.inf if low is None else low
    ns[f"H{i}"] = math.inf if high is None else high
    bounds = f" and L{i} <= v <= H{i}" if low is not None or high is not None else ""
    if tp is bool:
        return ["if v is not True and v is not False: refuse()"]
    if tp is int:
        return [f"if type(v) is not int or not (L{i} <= v <= H{i}): refuse()"]
    if tp is float:
        return ["t = type(v)",
                f"if t is float and -inf < v < inf{bounds}: pass",
                f"elif t is int{bounds}: v = float(v)",
                "else: refuse()"]
    if tp is str:
        return ["if type(v) is not str or not (v.isascii() or printable(v) is v): refuse()"]
    if tp is datetime.date:
        return ["if type(v) is not str or DATE(v) is None: refuse()",
                "v = fromiso(v)"]
    if isinstance(tp, type) and issubclass(tp, enum.Enum) and all(
            type(m.value) is str for m in tp):
        ns[f"E{i}"] = {m.value: m for m in tp}.get
        if check:
            return [f"if type(v) is not str or E{i}(v) is None: refuse()"]
        return ["if type(v) is not str: refuse()",
                f"v = E{i}(v)",
                "if v is None: refuse()"]
    if isinstance(tp, type) and attrs.has(tp):
        ns[f"R{i}"] = tp
        if check:
            nested = _fast_checker(tp) if tp not in _MAKING else None
            if nested is not None:  # (bound now: one call less for each record)
                ns[f"C{i}"] = nested
                return [f"C{i}(v, limit)"]
            return [f"(checker_of(R{i}) or refuse)(v, limit)"]
        return [f"v = (loader_of(R{i}) or refuse)(v, limit)"]
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if len(args) < 1 or (origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)):
            raise TypeError(f"unsupported list type {tp!r}")
        element, none_ok = _optional_inner(args[0])
        make = "tuple" if origin is tuple else "list"
        head = ["if type(v) is not list or len(v) > limit: refuse()"]
        if isinstance(element, type) and attrs.has(element) and not none_ok:
            ns[f"R{i}"] = element
            if check:
                nested = _fast_checker(element) if element not in _MAKING else None
                if nested is not None:
                    ns[f"C{i}"] = nested
                    return [*head, f"for x in v: C{i}(x, limit)"]
                return [*head, f"check_item = checker_of(R{i}) or refuse",
                        "for x in v: check_item(x, limit)"]
            return [*head, f"load_item = loader_of(R{i}) or refuse",
                    f"v = {make}([load_item(x, limit) for x in v])"]
        ns[f"X{i}"] = _strict_hook(element, {})
        if none_ok:
            return [*head, f"v = {make}([None if x is None else X{i}(x, None) for x in v])"]
        return [*head, f"v = {make}([X{i}(x, None) for x in v])"]
    # anything else (Literal strings, unusual enumerations): the converter's own hook
    ns[f"X{i}"] = _strict_hook(tp, metadata)
    return [f"v = X{i}(v, None)"]


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


# --- validating instances built in Python ------------------------------------------------

_Check = Callable[[Any, str, list[RecordProblem], int], None]
"""Checks one non-None value at a path, appending problems; the list limit is the last."""


def validate_record(obj: object, *, source: str | None = None,
                    max_list_length: int = DEFAULT_MAX_LIST_LENGTH) -> None:
    """Check a record instance built in Python as strictly as :func:`load_record` checks JSON.

    attrs does not check annotations, so ``Neuro(deficit=1)`` or ``Patient(age=500)`` build
    without complaint; this walks the instance once and raises :class:`RecordError` with one
    located problem per wrong value (``neuro.deficit: expected True or False, got 1 (int)``):
    a ``bool`` field holds ``True``/``False`` only, an ``int`` field an ``int`` (not a bool)
    in its range, a ``float`` field a finite ``int`` or ``float`` in its range, an
    enumeration field a member (not its string), a list at most ``max_list_length`` items.

        >>> from spinerules.records.spine import Neuro, Patient
        >>> validate_record(Patient(age=500, neuro=Neuro(deficit=1)))
        Traceback (most recent call last):
          ...
        spinerules.records.RecordError: age: expected a whole number from 0 to 120, got 500 (int)
        neuro.deficit: expected True or False, got 1 (int)
    """
    entry = _VALID.get(id(obj))
    if entry is not None and entry() is obj and entry.limit <= max_list_length:
        return  # loaded or checked before, and it cannot have changed since
    if attrs.has(type(obj)) and _instance_ok(type(obj))(obj, max_list_length):
        _remember_valid(obj, max_list_length)
        return  # the common case, checked quickly; the walk below names what is wrong
    problems: list[RecordProblem] = []
    _instance_check(type(obj))(obj, ROOT, problems, max_list_length)
    if problems:
        raise RecordError(_capped(problems), source=source)
    _remember_valid(obj, max_list_length)


# --- records known to be valid -----------------------------------------------------------


class _Valid(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a record known valid under list limits ``>= limit``."""

    __slots__ = ("key", "limit")
    key: int
    limit: int


_VALID: dict[int, _Valid] = {}
"""Records that :func:`load_record` built or :func:`validate_record` passed, by ``id``
(only while they live: each entry goes as its record is freed), so that evaluating one
record again, or a record the loader built, does not check it again. Only records that
cannot change are kept (:func:`_immutable`)."""


def _forget(ref: _Valid, valid: dict[int, _Valid] = _VALID) -> None:
    """Called as a known-valid record is freed (before its id can be reused); the table is
    bound here, so that a record freed as the interpreter exits finds it still."""
    if valid.get(ref.key) is ref:
        del valid[ref.key]


def _remember_valid(obj: object, limit: int) -> None:
    """Note that ``obj`` is valid under the list limit ``limit``, if it cannot change."""
    if not _immutable(type(obj)):
        return
    key = id(obj)
    entry = _VALID.get(key)
    if entry is not None and entry() is obj and entry.limit <= limit:
        return
    try:
        ref = _Valid(obj, _forget)
    except TypeError:  # (no weak references to it)
        return
    ref.key, ref.limit = key, limit
    _VALID[key] = ref


_IMMUTABLE: dict[type[Any], bool] = {}


def _immutable(cls: type[Any]) -> bool:
    """Whether an instance of ``cls`` cannot change once built: a frozen attrs class whose
    fields hold only booleans, numbers, strings, dates, enumeration members, ``Literal``
    values, tuples of those, and instances of such classes (a ``list`` field, or a class
    that is not frozen, can change after it was checked: such records are checked on every
    call)."""
    known = _IMMUTABLE.get(cls)
    if known is None:
        _IMMUTABLE[cls] = False  # (while it is worked out: a class that holds itself)
        try:
            known = _IMMUTABLE[cls] = _find_immutable(cls)
        except Exception:  # anything unusual: checked on every call
            known = False
    return known


def _find_immutable(cls: type[Any]) -> bool:
    props = getattr(cls, "__attrs_props__", None)
    if not attrs.has(cls) or props is None or not props.is_frozen:
        return False
    hints = typing.get_type_hints(cls)
    return all(_immutable_type(hints[f.name]) for f in attrs.fields(cls))


def _immutable_type(annotation: Any) -> bool:
    tp = _optional_inner(annotation)[0]
    origin = typing.get_origin(tp)
    if tp in (bool, int, float, str, datetime.date):
        return True
    if origin is typing.Literal:
        return all(type(c) in (bool, int, str) for c in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return len(args) == 2 and args[1] is Ellipsis and _immutable_type(args[0])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return True
    return isinstance(tp, type) and attrs.has(tp) and _immutable(tp)



def _make_instance_ok(cls: type[Any]) -> Callable[[Any, int], bool]:
    """A quick yes/no for an instance of ``cls`` whose fields hold exactly their annotated
    types, in range (the walk of :func:`_instance_check` finds the problems when it says no).

    Generated once per record class as one straight-line function, one test per field: a
    few microseconds for the founding case, where a walk through closures takes several
    times as long. Only the class's own field names (Python identifiers) go into the text;
    every type and bound is a name bound in the function's namespace.
    """
    hints = typing.get_type_hints(cls)
    ns: dict[str, Any] = {"inf": math.inf, "printable": _printable, "ok_of": _instance_ok}
    lines = ["def ok(o, limit):"]
    for i, f in enumerate(attrs.fields(cls)):
        if not f.name.isidentifier() or keyword.iskeyword(f.name):
            return lambda obj, limit: False  # unusual names: always walked
        tp = _optional_inner(hints[f.name])[0]
        origin = typing.get_origin(tp)
        low, high = f.metadata.get("min"), f.metadata.get("max")
        ns[f"T{i}"], ns[f"L{i}"] = tp, -math.inf if low is None else low
        ns[f"H{i}"] = math.inf if high is None else high
        lines.append(f"    v = o.{f.name}")
        if tp is bool:
            test = "v is True or v is False"
        elif tp is int:
            test = f"type(v) is int and L{i} <= v <= H{i}"
        elif tp is float:
            test = f"(type(v) is float or type(v) is int) and L{i} <= v <= H{i} and -inf < v < inf"
        elif tp is str:
            test = "type(v) is str and (v.isascii() or printable(v) is v)"
        elif tp is datetime.date or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
            test = f"type(v) is T{i}"
        elif isinstance(tp, type) and attrs.has(tp):
            test = f"type(v) is T{i} and ok_of(T{i})(v, limit)"
        elif origin in (tuple, list):
            ns[f"E{i}"] = _element_ok(typing.get_args(tp)[0])
            test = f"(type(v) is tuple or type(v) is list) and len(v) <= limit " \
                f"and all([E{i}(x, limit) for x in v])"
        else:  # Literal and anything unusual: always walked
            test = "False"
        lines.append(f"    if v is not None and not ({test}): return False")
    lines.append("    return True")
    code = compile("\n".join(lines), f"<record check of {cls.__qualname__}>", "exec")
    exec(code, ns)  # text made of the class's own field names (see above)
    ok: Callable[[Any, int], bool] = ns["ok"]
    return ok


def _element_ok(annotation: Any) -> Callable[[Any, int], bool]:
    """A quick yes/no for one list element (records quickly, other types by the walk)."""
    tp, optional = _optional_inner(annotation)
    if isinstance(tp, type) and attrs.has(tp):
        record_cls = tp

        def record_ok(v: Any, limit: int) -> bool:
            if v is None:
                return optional
            return type(v) is record_cls and _instance_ok(record_cls)(v, limit)
        return record_ok
    check = _value_check(annotation, {})

    def value_ok(v: Any, limit: int) -> bool:
        if v is None:
            return optional
        problems: list[RecordProblem] = []
        check(v, ROOT, problems, limit)
        return not problems
    return value_ok


def _got(value: object) -> str:
    """How a received Python value is shown after "got": ``1 (int)``, ``'no' (str)``."""
    text = repr(value)
    if len(text) > 60:
        text = text[:56] + "..." + text[-1:]
    return f"{text} ({type(value).__name__})"


def _instance_check(cls: type[Any]) -> _Check:
    """The check of one attrs record class: each field's value by its annotation."""
    check = _CHECKS.get(cls)
    if check is None:
        check = _CHECKS[cls] = _make_instance_check(cls)
    return check


def _instance_ok(cls: type[Any]) -> Callable[[Any, int], bool]:
    """The quick yes/no of one attrs record class (see :func:`_make_instance_ok`)."""
    ok = _OKS.get(cls)
    if ok is None:
        ok = _OKS[cls] = _make_instance_ok(cls)
    return ok


_CHECKS: dict[type[Any], _Check] = {}
_OKS: dict[type[Any], Callable[[Any, int], bool]] = {}


def _make_instance_check(cls: type[Any]) -> _Check:
    hints = typing.get_type_hints(cls)
    fields = tuple((f.name, _value_check(hints[f.name], f.metadata)) for f in attrs.fields(cls))
    name = cls.__name__

    def record_check(obj: Any, path: str, problems: list[RecordProblem], limit: int) -> None:
        if not isinstance(obj, cls):
            problems.append(RecordProblem(path, f"expected a {name} record, got {_got(obj)}"))
            return
        for field, check in fields:
            value = getattr(obj, field)
            if value is not None:
                check(value, _join(path, field), problems, limit)

    return record_check


def _value_check(annotation: Any, metadata: Mapping[str, Any]) -> _Check:
    """The check of one field (or list element) type; ``None`` is checked by the caller."""
    tp, _optional = _optional_inner(annotation)
    origin = typing.get_origin(tp)
    low, high = metadata.get("min"), metadata.get("max")
    problem = RecordProblem

    if tp is bool:
        def bool_check(v: Any, path: str, problems: list[RecordProblem], _limit: int) -> None:
            if v is not True and v is not False:
                problems.append(problem(path, f"expected True or False, got {_got(v)}"))
        return bool_check

    if tp is int or tp is float:
        integral = tp is int
        expected = ("expected a whole number" if integral else "expected a number") \
            + _range(metadata)
        kinds = (int,) if integral else (int, float)

        def number_check(v: Any, path: str, problems: list[RecordProblem], _limit: int) -> None:
            if type(v) in kinds and (integral or math.isfinite(v)) \
                    and (low is None or v >= low) and (high is None or v <= high):
                return
            problems.append(problem(path, f"{expected}, got {_got(v)}"))
        return number_check

    if tp is str:
        def str_check(v: Any, path: str, problems: list[RecordProblem], _limit: int) -> None:
            if type(v) is not str:
                problems.append(problem(path, f"expected a string, got {_got(v)}"))
            elif _printable(v) is not v:
                problems.append(problem(path, f"expected Unicode text, got {_got(_printable(v))}"
                                        ", which has an unpaired surrogate"))
        return str_check

    if tp is datetime.date:
        def date_check(v: Any, path: str, problems: list[RecordProblem], _limit: int) -> None:
            if type(v) is not datetime.date:
                problems.append(problem(path, f"expected a datetime.date, got {_got(v)}"))
        return date_check

    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        enum_cls = tp
        members = _describe_choices([m.name for m in enum_cls],
                                    issubclass(enum_cls, OrderedEnum)).replace('"', "")
        expected = f"expected a {enum_cls.__name__} member ({members})"
        by_value = {m.value: m for m in enum_cls}

        def enum_check(v: Any, path: str, problems: list[RecordProblem], _limit: int) -> None:
            if type(v) is enum_cls:
                return
            member = by_value.get(v) if isinstance(v, str) else None
            hint = f"; use {enum_cls.__name__}.{member.name}" if member is not None else ""
            problems.append(problem(path, f"{expected}, got {_got(v)}{hint}"))
        return enum_check

    if origin is typing.Literal:
        choices = typing.get_args(tp)
        expected = "expected one of " + ", ".join(repr(c) for c in choices)

        def literal_check(v: Any, path: str, problems: list[RecordProblem], _limit: int) -> None:
            if not any(type(v) is type(c) and v == c for c in choices):
                problems.append(problem(path, f"{expected}, got {_got(v)}"))
        return literal_check

    if origin in (tuple, list):
        element = _value_check(typing.get_args(tp)[0], {})
        none_allowed = _optional_inner(typing.get_args(tp)[0])[1]
        kind = origin.__name__

        def list_check(v: Any, path: str, problems: list[RecordProblem], limit: int) -> None:
            if type(v) is not tuple and type(v) is not list:
                problems.append(problem(path, f"expected a {kind}, got {_got(v)}"))
            elif len(v) > limit:
                problems.append(problem(path, f"expected at most {limit} items, got {len(v)}"))
            else:
                for index, item in enumerate(v):
                    if item is None:
                        if not none_allowed:
                            problems.append(problem(f"{path}[{index}]",
                                                    "expected a value, got None"))
                    else:
                        element(item, f"{path}[{index}]", problems, limit)
        return list_check

    if isinstance(tp, type) and attrs.has(tp):
        record_cls = tp

        def nested_check(v: Any, path: str, problems: list[RecordProblem], limit: int) -> None:
            _instance_check(record_cls)(v, path, problems, limit)
        return nested_check

    raise TypeError(f"unsupported field type in a record: {tp!r}")


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

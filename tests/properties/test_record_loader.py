"""The generated record loaders (issue #18) accept exactly what the converter accepts and
build the same records, and their checks (``loader.json_ok``, nothing built) accept the same:
for generated valid records (dumped to JSON-shaped dicts) and the
same with one value, key or list spoiled, ``loader._fast_loader`` either builds the
converter's record or, where the converter reports a problem, refuses (``load_record``
then reports the converter's problems, unchanged)."""

from __future__ import annotations

import json
import typing
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinerules.records import loader
from spinerules.records.loader import RecordError, dump_record
from spinerules.records.spine import RECORD_TYPES
from spinerules.testing.strategies import records

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HOSTILE = st.sampled_from([
    None, True, False, 0, 1, -1, 7, 130, 10**400, 2.5, -0.0, float("nan"), float("inf"),
    "", "x", "T12", "L1", "female", "2026-02-18", "2026-02-30", "20260218", "\ud800",
    "\u0661\u0669\u0668\u0660-01-01", [], [None], [{}], {}, {"x": 1}, {"level": "L1"},
])


def _converter(cls: type, data: Any, limit: int) -> Any:
    """The record as the converter alone loads it, or the RecordError it raises."""
    saved = loader._fast_loader(cls)
    loader._LOADERS[cls] = None  # (nested records: the converter's own hooks)
    try:
        return loader.load_record(cls, data, max_list_length=limit)
    except RecordError as exc:
        return exc
    finally:
        loader._LOADERS[cls] = saved


def _paths(data: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*at, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*at, i))
    return out


def _spoil(data: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value if how == "replace" else data
    data = json.loads(json.dumps(data))  # a copy
    holder = data
    for step in path[:-1]:
        holder = holder[step]
    last = path[-1]
    if how == "replace":
        holder[last] = value
    elif how == "extra" and isinstance(holder, dict):
        holder[f"{last}_extra"] = value
    elif how == "delete":
        del holder[last]
    return data


_INLINE: dict[tuple[type, bool], Any] = {}


def _inline_check(cls: type, some: bool = False) -> Any:
    """A function of ``json_check_lines(cls)``, asked for the value of every field of
    the record and of its records (with ``some``, every other one: the lines check the
    fields asked for first, and the others only when the object has another key): True
    when the lines accept the data and every value kept is the loaded record's (a record
    and a list of records: the data's own), False when they refuse it."""
    if (cls, some) not in _INLINE:
        bound: dict[tuple[str, ...], tuple[str, str]] = {}

        def ask(c: type, path: tuple[str, ...]) -> None:
            for i, f in enumerate(attrs.fields(c)):
                here = (*path, f.name)
                if not some or i % 2:
                    bound[here] = (f"_w{len(bound)}", "v")
                tp = typing.get_type_hints(c)[f.name]
                inner = [a for a in typing.get_args(tp) if attrs.has(a)]
                if inner and inner[0] is not c:
                    ask(inner[0], here)
        ask(cls, ())
        made = loader.json_check_lines(cls, bound)
        assert made is not None
        lines, names = made
        kept = ", ".join(f"({'.'.join(p)!r}, {local})" for p, (local, _) in bound.items())
        text = ("def check(record, limit):\n    try:\n"
                + "".join(f"        {line}\n" for line in lines)
                + "    except Exception:\n        return None\n"
                + f"    return [{kept}]\n")
        namespace = dict(names)
        exec(text, namespace)  # (the lines of the loader, for the loader's own test)
        _INLINE[(cls, some)] = namespace["check"]

    def run(data: Any, limit: int) -> bool:
        kept = _INLINE[(cls, some)](data, limit)
        if kept is None:
            return False
        # each value is the loaded record's (None where missing), a record or a list of
        # records its JSON
        loaded = loader.load_record(cls, data, max_list_length=limit)
        for dotted, value in kept:
            at: Any = data
            made: Any = loaded
            for step in dotted.split("."):
                at = at.get(step) if isinstance(at, dict) else None
                made = getattr(made, step, None)
            if isinstance(value, dict | list):  # (a list of values is loaded as a tuple)
                assert value is at, dotted
                assert attrs.has(type(made)) or all(attrs.has(type(x)) for x in made)
            else:
                assert value == made and type(value) is type(made), dotted
        return True
    return run


@pytest.mark.parametrize("name", sorted(RECORD_TYPES))
@SETTINGS
@given(data=st.data())
def test_generated_loader_agrees_with_the_converter(name: str, data: st.DataObject) -> None:
    cls = RECORD_TYPES[name]
    fast = loader._fast_loader(cls)
    assert fast is not None
    raw = dump_record(data.draw(records(cls)))
    limit = data.draw(st.sampled_from([1000, 1, 2]))
    spoiled = data.draw(st.booleans())
    if spoiled:
        path = data.draw(st.sampled_from(_paths(raw)))
        raw = _spoil(raw, path, data.draw(st.sampled_from(["replace", "extra", "delete"])),
                     data.draw(HOSTILE))
    want = _converter(cls, raw, limit)
    try:
        got = fast(raw, limit)
    except Exception:
        got = None  # refused
    # the generated check (no record built) accepts exactly what the loader accepts
    assert loader._fast_checker(cls) is not None
    assert loader.json_ok(cls, raw, limit) is (got is not None)
    # so do its lines run inside generated code (``json_check_lines``), which also keep
    # the values they are asked for
    assert _inline_check(cls)(raw, limit) is (got is not None)
    assert _inline_check(cls, some=True)(raw, limit) is (got is not None)
    if isinstance(want, RecordError):
        assert got is None, f"the generated loader accepted what the converter refuses: {want}"
    else:
        assert got == want
        if not spoiled:
            assert got is not None
        # and load_record (the generated loader first) gives the same
        assert loader.load_record(cls, raw, max_list_length=limit) == want


class _Subclass(dict):  # type: ignore[type-arg]
    """A dict subclass: its keys are always compared with the declared ones."""


@pytest.mark.parametrize("raw", [
    {"agee": None}, {"agee": 70}, {"age": None, "agee": None}, {"age": 70, "agee": None},
    {"neuro": {"deficit": None, "x": None}}, {"neuro": {"deficit": True, "x": None}},
    {"fractures": [{"level": None, "nope": None}]}, {"fractures": [{"level": "L1"}, {"x": 0}]},
    {"fractures": [{"level": "L1", "sins": {"pain": None, "nope": None}}]},
    _Subclass(agee=None), {"neuro": _Subclass(deficit=True, x=None)},
])
def test_a_key_not_declared_is_refused_whatever_its_value(raw: dict[str, Any]) -> None:
    # the generated checks count the declared keys found with a value and compare the
    # count with the object's length (``loader._no_other_keys``): a key with a null value,
    # declared or not, and a dict subclass take the set comparison
    cls = RECORD_TYPES["spine.Patient"]
    assert isinstance(_converter(cls, raw, 1000), RecordError)
    fast = loader._fast_loader(cls)
    assert fast is not None
    with pytest.raises(loader._Refused):  # (load_record then reports the problems)
        fast(raw, 1000)
    assert loader.json_ok(cls, raw, 1000) is False
    assert _inline_check(cls)(raw, 1000) is False
    assert _inline_check(cls, some=True)(raw, 1000) is False


@pytest.mark.parametrize("raw", [
    {}, {"age": None}, {"age": 70, "sex": None, "neuro": {"deficit": None}},
    {"fractures": [{"level": None}, {}]}, _Subclass(age=70), {"neuro": _Subclass(deficit=None)},
])
def test_null_values_of_declared_keys_are_accepted(raw: dict[str, Any]) -> None:
    cls = RECORD_TYPES["spine.Patient"]
    want = _converter(cls, raw, 1000)
    assert not isinstance(want, RecordError)
    fast = loader._fast_loader(cls)
    assert fast is not None
    assert fast(raw, 1000) == want
    # (json_ok answers False for a top-level dict subclass: it does not tell, and
    # load_record then loads it)
    assert loader.json_ok(cls, raw, 1000) is (type(raw) is dict)
    assert _inline_check(cls)(raw, 1000) is True
    assert _inline_check(cls, some=True)(raw, 1000) is True

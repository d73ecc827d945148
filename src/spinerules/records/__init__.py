"""Patient records: the schema building blocks, the strict JSON loader, the spine record.

``schema`` (``fact()`` and ``OrderedEnum``, to declare a record as attrs classes), ``loader``
(JSON or a mapping to a record, with path-precise errors) and ``spine`` (the bundled spine
record). Independent of the language: it imports nothing else of ``spinerules``.

The loader's names are re-exported here, so ``from spinerules.records import load_record``
works as it always has.
"""

from spinerules.records.loader import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_LIST_LENGTH,
    MAX_PROBLEMS,
    RecordError,
    RecordProblem,
    dump_record,
    load_record,
    load_record_json,
    validate_record,
)
from spinerules.records.schema import OrderedEnum, fact

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LIST_LENGTH",
    "MAX_PROBLEMS",
    "OrderedEnum",
    "RecordError",
    "RecordProblem",
    "dump_record",
    "fact",
    "load_record",
    "load_record_json",
    "validate_record",
]

"""A typed record read from JSON and written back as it was read: the base of the results' records
(harness/records/suite.py, harness/records/blocks.py).

A record's fields are its JSON keys (a field may name another key: `json_key`). Reading refuses a key the record
does not know and a required field that is missing, naming it and where it is: a field renamed on one side fails
at load, not as an empty column in a table. A field the JSON did not have takes its typed default, said once here
in the record; written back, a record gives the keys it was read with (a null included) and the others it holds
that differ from their defaults.
"""

import dataclasses
from dataclasses import MISSING, dataclass, field
from typing import ClassVar


class RecordError(ValueError):
    """JSON that is not the record it should be: one line, naming the field and where it is."""


def json_key(name):
    """A field whose JSON key is not a Python name: p99_9 = field(..., metadata=json_key("p99.9"))."""
    return {"json": name}


def _key(found):
    return found.metadata.get("json", found.name)


def _read(spec, value, where):
    """`value` read as `spec` says: a Record class, [Record class] (a list of them), {str: Record class} (keyed)."""
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise RecordError(f"{where}: a list expected, not {type(value).__name__}")
        return [spec[0].from_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise RecordError(f"{where}: an object expected, not {type(value).__name__}")
        return {key: spec[str].from_json(item, f"{where}.{key}") for key, item in value.items()}
    return spec.from_json(value, where)


def _written(value):
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, list):
        return [_written(item) for item in value]
    if isinstance(value, dict):
        return {key: _written(item) for key, item in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class Record:
    # The JSON keys it was read with: written back as they were. Not a figure: never compared.
    given: frozenset = field(default=frozenset(), repr=False, compare=False)
    NESTED: ClassVar[dict] = {}  # field name -> how its value reads (_read's spec); a plain value if not named

    @classmethod
    def fields(cls):
        """{JSON key: field} of the record's own fields."""
        return {_key(found): found for found in dataclasses.fields(cls) if found.name != "given"}

    @classmethod
    def from_json(cls, raw, where=None):
        where = where or cls.__name__
        if not isinstance(raw, dict):
            raise RecordError(f"{where}: an object expected, not {type(raw).__name__}")
        known = cls.fields()
        unknown = [key for key in raw if key not in known]
        if unknown:
            raise RecordError(f"{where}: unknown field {unknown[0]!r}")
        missing = [
            key
            for key, found in known.items()
            if key not in raw and found.default is MISSING and found.default_factory is MISSING
        ]
        if missing:
            raise RecordError(f"{where}: no {missing[0]!r}")
        values = {}
        for key, value in raw.items():
            name = known[key].name
            spec = cls.NESTED.get(name)
            if spec is None:
                values[name] = value
            elif value is not None:  # null: the field's default (an empty record), written back as null
                values[name] = _read(spec, value, f"{where}.{key}")
        return cls(**values, given=frozenset(raw))

    def to_json(self):
        written = {}
        for key, found in self.fields().items():
            value = getattr(self, found.name)
            default = found.default_factory() if found.default_factory is not MISSING else found.default
            if key in self.given or value != default:
                empty = isinstance(value, Record) and not value.given and value == default
                written[key] = None if empty else _written(value)
        return written

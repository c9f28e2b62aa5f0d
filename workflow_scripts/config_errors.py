"""A schema violation of the configuration as one paragraph: the key's full path, the problem, and
the closest valid key (an unknown key) or the expected type or values (a wrong value), instead of the
validator's dump of the whole schema (70 to 1,728 lines for one typo). Used by
``workflow_config.check_config``; a support module beside it (no torch, no Snakemake).
"""

from __future__ import annotations

import difflib

#: How a JSON-schema type reads in a message.
TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a block of keys",
    "null": "null",
}

#: Where every key is documented (named in each message).
SCHEMA_FILE = "schemas/config.schema.yaml"


def _path(parts) -> str:
    return ".".join(str(part) for part in parts)


def _type_of(value) -> str:
    for name, kind in (("boolean", bool), ("integer", int), ("number", float), ("string", str)):
        if isinstance(value, kind):
            return TYPE_WORDS[name]
    return (
        TYPE_WORDS["array"] if isinstance(value, list) else TYPE_WORDS["object"] if isinstance(value, dict) else "null"
    )


def _unknown_keys(error) -> str:
    allowed = list(error.schema.get("properties", {}))
    where = _path(error.absolute_path)
    messages = []
    for key in [key for key in error.instance if key not in allowed]:
        full = f"{where}.{key}" if where else str(key)
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        guess = f" Did you mean '{close[0]}'?" if close else ""
        messages.append(
            f"config key '{full}': not a key {'of ' + where if where else 'at the top level'}.{guess} The keys there: "
            f"{', '.join(allowed)}. Fix: rename or remove it (every key and its meaning: {SCHEMA_FILE})"
        )
    return "\n".join(messages)


def _wrong_value(error) -> str:
    key = _path(error.absolute_path) or "(the whole configuration)"
    value = error.instance
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        problem = f"{value!r} is {_type_of(value)}, expected {' or '.join(TYPE_WORDS.get(t, t) for t in expected)}"
    elif error.validator == "enum":
        choices = [str(choice) for choice in error.validator_value]
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
        problem = f"{value!r} is not one of {', '.join(choices)}" + (f" (did you mean '{close[0]}'?)" if close else "")
    else:
        problem = error.message.splitlines()[0]
    meaning = str(error.schema.get("description", "")).strip().split(". ")[0].rstrip(".")
    return (
        f"config key '{key}': {problem}. Fix: change it"
        + (f" ({key.rsplit('.', 1)[-1]}: {meaning})" if meaning else "")
        + f"; every key and its meaning: {SCHEMA_FILE}"
    )


def schema_error_message(error) -> str:
    """One paragraph for a :class:`jsonschema.ValidationError` (one per unknown key)."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_keys(error)
    return _wrong_value(error)

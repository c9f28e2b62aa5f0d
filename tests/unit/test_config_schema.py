"""The config schema documents every key, and the shipped configs satisfy it."""

import jsonschema
import pytest
import yaml

from support.workflow import REPO

SCHEMA = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())


def walk_properties(node, path=""):
    """Yield (dotted key, schema) for every property declared anywhere in the schema."""
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            yield f"{path}.{key}".lstrip("."), sub
            yield from walk_properties(sub, f"{path}.{key}")
        for keyword in ("$defs", "additionalProperties", "items"):
            child = node.get(keyword)
            if isinstance(child, dict):
                children = child.values() if keyword == "$defs" else [child]
                for sub in children:
                    yield from walk_properties(sub, path)


def test_every_key_has_a_description_and_a_default():
    keys = list(walk_properties(SCHEMA))
    assert len(keys) > 30
    undocumented = [key for key, sub in keys if "description" not in sub or "default" not in sub]
    assert undocumented == []


@pytest.mark.parametrize("config", ["config.yaml", "tests/config_tiny.yaml"])
def test_shipped_configs_are_valid(config):
    jsonschema.validate(yaml.safe_load((REPO / config).read_text()), SCHEMA)

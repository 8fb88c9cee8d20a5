"""A pydantic model from a tool's JSON schema (MCP servers describe their tools this way).

The model is what the model sees and what the gateway validates with, so the server's
schema is followed as far as pydantic types can express it: scalars, arrays, objects,
`enum`/`const` (literals), nullable (`anyOf` with null, `type: [..., "null"]`), local
`$ref`s, defaults, descriptions and the common bounds. Anything else is accepted as any JSON
value: the server still validates its own input.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALARS: dict[str, object] = {"string": str, "integer": int, "number": float, "boolean": bool}
_BOUNDS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_length",
    "maxItems": "max_length",
    "pattern": "pattern",
}


def model_from_schema(name: str, schema: Mapping[str, object]) -> type[BaseModel]:
    """A model with one field per property of an object schema (`required` ones required)."""
    return _Builder(schema).model(name, schema)


def required_of(schema: Mapping[str, object]) -> frozenset[str]:
    return frozenset(str(item) for item in _list(schema.get("required")))


class _Builder:
    def __init__(self, root: Mapping[str, object]) -> None:
        self.root = root
        self.depth = 0

    def model(self, name: str, schema: Mapping[str, object]) -> type[BaseModel]:
        properties = _dict(schema.get("properties"))
        required = required_of(schema)
        fields: dict[str, Any] = {}
        for index, (prop, raw) in enumerate(properties.items()):
            spec = self.resolve(_dict(raw))
            annotation = self.type_of(f"{name}_{prop}", spec)
            info = _field_info(spec, prop, required)
            if prop not in required and "default" not in spec:
                annotation = annotation | None
            field = prop if _usable(prop) else f"arg{index}_{re.sub(r'[^A-Za-z0-9_]', '_', prop)}"
            fields[field] = (annotation, info)
        extra = "allow" if schema.get("additionalProperties") not in (None, False) else "forbid"
        config = ConfigDict(
            extra="forbid" if not properties else extra,
            validate_by_name=True,
            validate_by_alias=True,
            serialize_by_alias=True,
        )
        model = create_model(_class_name(name), __config__=config, **fields)
        if description := schema.get("description"):
            model.__doc__ = str(description)
        return model

    def resolve(self, spec: Mapping[str, object]) -> Mapping[str, object]:
        ref = spec.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return spec
        target: object = self.root
        for part in ref[2:].split("/"):
            target = _dict(target).get(part)
        resolved = _dict(target)
        return {**resolved, **{k: v for k, v in spec.items() if k != "$ref"}}

    def type_of(self, name: str, spec: Mapping[str, object]) -> Any:
        self.depth += 1
        try:
            if self.depth > 12:
                return JsonValue
            return self._type_of(name, spec)
        finally:
            self.depth -= 1

    def _type_of(self, name: str, spec: Mapping[str, object]) -> Any:
        if "const" in spec:
            return Literal[cast(Any, spec["const"])]
        choices = _list(spec.get("enum"))
        if choices and all(isinstance(c, str | int | bool) or c is None for c in choices):
            return Literal[tuple(cast(list[Any], choices))]
        for key in ("anyOf", "oneOf"):
            options = [self.resolve(_dict(o)) for o in _list(spec.get(key))]
            if options:
                return _union([self.type_of(name, option) for option in options])
        kind = spec.get("type")
        if isinstance(kind, list):
            kinds = cast(list[object], kind)
            return _union([self.type_of(name, {**spec, "type": k}) for k in kinds])
        if kind == "null":
            return type(None)
        if isinstance(kind, str) and kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            items = spec.get("items")
            item = self.type_of(name, self.resolve(_dict(items))) if items else JsonValue
            return list[item]
        if kind == "object":
            if _dict(spec.get("properties")):
                return self.model(name, spec)
            return dict[str, JsonValue]
        return JsonValue


def _field_info(spec: Mapping[str, object], prop: str, required: frozenset[str]) -> Any:
    kwargs: dict[str, Any] = {}
    if isinstance(spec.get("description"), str):
        kwargs["description"] = spec["description"]
    for key, name in _BOUNDS.items():
        if key in spec and isinstance(spec[key], int | float | str):
            kwargs[name] = spec[key]
    if not _usable(prop):
        kwargs["alias"] = prop
    if "default" in spec:
        return Field(default=spec["default"], **kwargs)
    if prop in required:
        return Field(**kwargs)
    return Field(default=None, **kwargs)


def _union(types: list[Any]) -> Any:
    unique = list(dict.fromkeys(types))
    union = unique[0]
    for item in unique[1:]:
        union = union | item
    return union


def _usable(name: str) -> bool:
    """A property that can be a field name as is (not a keyword or a `BaseModel` attribute)."""
    return (
        _NAME.match(name) is not None
        and not keyword.iskeyword(name)
        and not name.startswith(("_", "model_"))
        and not hasattr(BaseModel, name)
    )


def _class_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"T_{cleaned}"


def _dict(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {str(k): v for k, v in cast(dict[object, object], value).items()}
    return {}


def _list(value: object) -> list[object]:
    return list(cast(list[object], value)) if isinstance(value, list) else []

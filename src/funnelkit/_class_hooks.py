"""
The converter's hooks for attrs classes: events and entry actions by wire name, tagged unions.

Events are read at their current schema version (earlier ones are upcast), entities in a
merge are tagged by kind, and definitions that hold code are refused as data.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, get_args, get_origin

import attrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from funnelkit import model
from funnelkit._checks import describe
from funnelkit._scalar_hooks import _DataError, _short
from funnelkit.events import (
    EVENT_TYPES,
    UPCASTERS,
    Event,
)
from funnelkit.exceptions import ValidationError
from funnelkit.pipelines import CreateTask, EntryAction, SetField


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import cattrs


__all__: list[str] = []


def _class_hook(
    cls: type, converter: cattrs.Converter, **overrides: Any
) -> Callable[[object, type], Any]:
    generated: Callable[[Any, type], Any] = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=True, **overrides
    )

    def structure(value: object, _: type) -> Any:
        if type(value) is not dict:
            raise _DataError(
                f"expected an object with the fields of {cls.__name__}, got {_short(value)}"
            )
        return generated(value, cls)

    return structure


def _code_fields(cls: type) -> tuple[str, ...]:
    """The fields of a definition that hold code (your conditions and callbacks)."""
    return tuple(a.name for a in attrs.fields(cls) if a.metadata.get("code"))


def _code_structure_hook(cls: type, converter: cattrs.Converter) -> Callable[[object, type], Any]:
    """A definition from data: code cannot be data, so its code fields keep their defaults."""
    omitted: dict[str, Any] = {name: override(omit=True) for name in _code_fields(cls)}
    return _class_hook(cls, converter, **omitted)


def _code_unstructure_hook(cls: type, converter: cattrs.Converter) -> Callable[[Any], Any]:
    """A definition as data, refused while it holds code (data would silently lose it)."""
    names = _code_fields(cls)
    omitted: dict[str, Any] = {name: override(omit=True) for name in names}
    generated: Callable[[Any], Any] = make_dict_unstructure_fn(cls, converter, **omitted)

    def unstructure(value: Any) -> Any:
        for name in names:
            if getattr(value, name):
                _refuse_code(value, name)
        return generated(value)

    return unstructure


def _refuse_code(value: object, name: str) -> None:
    key = (
        getattr(value, "key", None)
        or f"{getattr(value, 'source', '?')} → {getattr(value, 'dest', '?')}"
    )
    msg = (
        f"{type(value).__name__} {key!r} has {name} written in code, which data cannot hold; "
        "keep this pipeline in code, or write it to data without its conditions and callbacks"
    )
    raise ValidationError(msg, field=f"{type(value).__name__}.{name}", value=value, rule="code")


def _is_action(type_: object) -> bool:
    """Whether a type is `Action` (as written, or with its forward references resolved)."""
    members = typing.get_args(type_)
    return CreateTask in members and SetField in members and len(members) == 3  # noqa: PLR2004


def _unstructure_action(value: object, converter: cattrs.Converter) -> Any:
    if not isinstance(value, CreateTask | SetField):
        msg = (
            f"the entry action {describe(value)} is code, which data cannot hold; keep this "
            "pipeline in code, or use CreateTask and SetField"
        )
        raise ValidationError(msg, field="Stage.on_enter", value=value, rule="code")
    return converter.unstructure(value)


def _event_unstructure_hook(
    cls: type, converter: cattrs.Converter
) -> Callable[[Any], dict[str, Any]]:
    generated: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, converter)
    head: dict[str, Any] = {"type": cls.TYPE}  # type: ignore[attr-defined]
    if cls in _EVENT_CLASSES:
        head["version"] = cls.VERSION

    def unstructure(event: Any) -> dict[str, Any]:
        return {**head, **generated(event)}

    return unstructure


_EVENT_CLASSES = frozenset(EVENT_TYPES.values())


def _current_fields(value: dict[str, Any], cls: Any) -> dict[str, Any]:
    """An event's fields (its data without ``"version"``) upcast to `cls`'s current version."""
    fields = {key: item for key, item in value.items() if key != "version"}
    version = value.get("version", 1)  # written before versions existed: version 1
    if type(version) is not int or version < 1:
        msg = f"'version' is an event's schema version, a positive integer; got {_short(version)}"
        raise _DataError(msg)
    if version > cls.VERSION:
        msg = (
            f"this is version {_short(version)} of {cls.TYPE!r}, written by a newer funnelkit; "
            f"this one reads versions 1 to {cls.VERSION}: upgrade funnelkit before reading this log"
        )
        raise _DataError(msg)
    for step in range(version, cls.VERSION):
        try:
            fields = UPCASTERS[cls.TYPE, step](fields)
        except Exception as error:
            msg = f"cannot read version {step} of {cls.TYPE!r} as version {step + 1}: {error!r}"
            raise _DataError(msg) from error
    return fields


_ACTION_TYPES: dict[str, type[Any]] = {cls.TYPE: cls for cls in (CreateTask, SetField)}


def _wire_named_hook(cls: type, converter: cattrs.Converter) -> Callable[[object, Any], Any]:
    """
    An event or entry action read as its own class: its ``"type"`` key, if any, must match.

    An event's data of an earlier ``"version"`` is upcast first (`funnelkit.events.UPCASTERS`).
    """
    inner = _class_hook(cls, converter)
    wire_name: str = cls.TYPE  # type: ignore[attr-defined]
    versioned = cls in _EVENT_CLASSES

    def structure(value: object, type_: Any) -> Any:
        if type(value) is dict and "type" in value:
            if value["type"] != wire_name:
                msg = f"this is {_short(value['type'])} data, not {wire_name!r} ({cls.__name__})"
                raise _DataError(msg)
            value = {key: item for key, item in value.items() if key != "type"}
        if versioned and type(value) is dict:
            value = _current_fields(value, cls)
        return inner(value, type_)

    return structure


def _structure_tagged(
    value: object, converter: cattrs.Converter, types: Mapping[str, type[Any]], what: str
) -> Any:
    """Structure a member of a tagged union: the ``"type"`` key names its class in `types`."""
    if type(value) is not dict:
        raise _DataError(f"expected an {what} object with a 'type' key, got {_short(value)}")
    wire_name = value.get("type")
    cls = types.get(wire_name) if type(wire_name) is str else None
    if cls is None:
        known = ", ".join(repr(name) for name in types)
        raise _DataError(f"unknown {what} type {_short(wire_name)}; known types: {known}")
    return converter.structure({key: item for key, item in value.items() if key != "type"}, cls)


def _pair_hooks(
    converter: cattrs.Converter,
) -> tuple[Callable[[object, Any], Any], Callable[[Any], Any]]:
    """A scored pair with its explanation (worked out when first read), and back."""
    from funnelkit.matching import PairScore  # noqa: PLC0415 - it imports the model

    private = {"_scoring": override(omit=True), "_code": override(omit=True)}
    structure = _class_hook(PairScore, converter, _cattrs_use_alias=True, **private)

    def unstructure(pair: Any) -> dict[str, Any]:
        return {
            "left": pair.left,
            "right": pair.right,
            "score": pair.score,
            "probability": pair.probability,
            "band": pair.band.value,
            "conflicts": list(pair.conflicts),
            "keys": list(pair.keys),
            "contributions": converter.unstructure(pair.contributions),
        }

    return structure, unstructure


def _rule_types() -> dict[str, type[Any]]:
    """The qualification rules written as data, by wire name; rules of code are not."""
    from funnelkit import qualification  # noqa: PLC0415 - it imports the model

    return {
        "spam_pattern": qualification.SpamPattern,
        "blocked_phones": qualification.BlockedPhones,
        "missing_contact": qualification.MissingContact,
        "open_duplicate": qualification.OpenDuplicate,
    }


def _rule_hooks(
    converter: cattrs.Converter,
) -> tuple[Callable[[object, Any], Any], Callable[[Any], Any]]:
    types_ = _rule_types()
    names = {cls: name for name, cls in types_.items()}

    def structure(value: object, _: Any) -> Any:
        return _structure_tagged(value, converter, types_, "qualification rule")

    def unstructure(value: Any) -> Any:
        name = names.get(type(value))
        if name is None:
            msg = (
                f"to_data: the qualification rule {describe(value)} is code of yours, which data "
                f"cannot hold; write policies with the built-in rules ({', '.join(types_)}) "
                "as data, and add your own rules in code after from_data"
            )
            raise ValidationError(msg, field="rules", value=value, rule="code")
        return {"type": name, **converter.unstructure(value, type(value))}

    return structure, unstructure


def _structure_action(value: object, converter: cattrs.Converter) -> EntryAction:
    action: EntryAction = _structure_tagged(value, converter, _ACTION_TYPES, "entry action")
    return action


def _structure_event(value: object, converter: cattrs.Converter) -> Event:
    event: Event = _structure_tagged(value, converter, EVENT_TYPES, "event")
    return event


_ENTITY_CLASSES: dict[type[Any], str] = {
    cls: cls.KIND.value for cls in (model.Contact, model.Lead, model.Deal, model.Task)
}


def _entity_union(type_: Any) -> tuple[dict[str, type[Any]], bool] | None:
    """For a union of entity classes (``Lead | Deal``, maybe optional): its tags, and if None."""
    if get_origin(type_) not in (typing.Union, types.UnionType):
        return None
    members = [arg for arg in get_args(type_) if arg is not type(None)]
    if len(members) < 2 or not all(arg in _ENTITY_CLASSES for arg in members):  # noqa: PLR2004
        return None
    return {_ENTITY_CLASSES[arg]: arg for arg in members}, len(members) < len(get_args(type_))


def _entity_union_structure_hook(
    type_: Any, converter: cattrs.Converter
) -> Callable[[object, Any], Any]:
    found = _entity_union(type_)
    assert found is not None  # noqa: S101 - the predicate said so
    tags, optional = found

    def structure(value: object, _: Any) -> Any:
        if value is None and optional:
            return None
        return _structure_tagged(value, converter, tags, "entity")

    return structure


def _entity_union_unstructure_hook(_type: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    def unstructure(value: Any) -> Any:
        if value is None:
            return None
        data = converter.unstructure(value, type(value))
        return {"type": _ENTITY_CLASSES[type(value)], **data}

    return unstructure

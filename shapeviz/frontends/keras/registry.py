"""The converter registry: one small function per Keras layer class, and the config-key bookkeeping
that makes every key of a layer's config either honoured or refused by name.

A converter is registered for a class name with the keys it reads (``honours``) and the keys that
may be present with values that change nothing here (``harmless``: each key's check). It receives a
:class:`Conf` and returns the shapeviz layer. Keys the converter neither reads nor lists as harmless
are problems: the import collects every problem of every layer and raises once
(:class:`KerasImportError`), naming the layer, its class, the key, its value and what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from shapeviz.frontends.base import ModelLoadError


class KerasImportError(ModelLoadError):
    """A Keras model uses something shapeviz cannot reproduce exactly; the message lists every problem."""


@dataclass(frozen=True)
class Converter:
    class_name: str
    fn: Callable[["Conf"], Any]
    honours: frozenset
    harmless: dict


#: class name -> converter: the list of the Keras layers shapeviz imports
CONVERTERS: dict[str, Converter] = {}


def _none(value: Any) -> bool:
    return value is None


def _any(value: Any) -> bool:
    return True


def _false(value: Any) -> bool:
    return value is False or value == 0


def _true(value: Any) -> bool:
    return value is True


def _float32(value: Any) -> bool:
    """A float32 dtype or dtype policy, in either dialect (``"float32"``, a DTypePolicy dict)."""
    if value is None or value == "float32":
        return True
    if isinstance(value, dict):
        inner = value.get("config", {})
        return isinstance(inner, dict) and inner.get("name") == "float32"
    return False


#: keys any layer may carry and how their harmless values look; the values shapeviz ignores
#: change nothing in a forward pass (regularizers and constraints act only in Keras's training,
#: and are not applied by shapeviz's; the docs say so)
COMMON_HARMLESS: dict[str, Callable[[Any], bool]] = {
    "trainable": _true,
    "dtype": _float32,
    "autocast": _any,
    "activity_regularizer": _any,
    "kernel_regularizer": _any, "recurrent_regularizer": _any, "bias_regularizer": _any,
    "embeddings_regularizer": _any,
    "kernel_constraint": _any, "recurrent_constraint": _any, "bias_constraint": _any,
    "embeddings_constraint": _any,
    "kernel_initializer": _any, "recurrent_initializer": _any, "bias_initializer": _any,
    "embeddings_initializer": _any,
    "seed": _any,  # dropout's seed: shapeviz draws from the rng it is given
    "quantization_config": _none, "lora_rank": _none, "lora_alpha": _any,
    "batch_input_shape": _any, "batch_shape": _any, "input_shape": _any,  # read by the model builder
    "sparse": _false, "ragged": _false,
    "input_dtype": _any,
}

#: what each refusal's "supported" part says, for harmless keys with a single accepted value
_HARMLESS_TEXT = {
    _true: "True", _false: "False", _none: "None", _float32: "float32",
}


def converter(class_name: str, *, honours: tuple = (), harmless: dict | None = None) -> Callable:
    """Register ``fn(conf) -> layer`` for the Keras class ``class_name``."""

    def register(fn: Callable[["Conf"], Any]) -> Callable[["Conf"], Any]:
        if class_name in CONVERTERS:
            raise ValueError(f"a converter for {class_name!r} is already registered")
        CONVERTERS[class_name] = Converter(class_name, fn, frozenset(honours) | {"name"},
                                           {**COMMON_HARMLESS, **(harmless or {})})
        return fn

    return register


def supported() -> list[str]:
    """The Keras layer classes shapeviz imports (the registry itself)."""
    return sorted(CONVERTERS)


def short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class Conf:
    """One Keras layer's config as a converter reads it; every read marks the key honoured.

    Attributes:
        name: the layer's name; ``class_name`` its Keras class.
        config: the layer's config dict.
        keras2: the file was saved by Keras 2 / tf.keras (its ``hard_sigmoid`` and mask rules).
        problems: where refusals go (shared by the whole import).
        notes: facts the report mentions (e.g. an option accepted and ignored).
    """

    name: str
    class_name: str
    config: dict
    keras2: bool
    problems: list[str]
    read: set = field(default_factory=set)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (``default`` when absent), marked honoured."""
        self.read.add(key)
        return self.config.get(key, default)

    def where(self) -> str:
        return f"layer {self.name!r} ({self.class_name})"

    def refuse(self, key: str, value: Any, supported: str) -> None:
        """Record that ``key=value`` cannot be reproduced; ``supported`` says what can."""
        self.read.add(key)
        self.problems.append(f"{self.where()}: option {key}={short(value)} is not supported; {supported}")

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where()}: {text}")

    def choice(self, key: str, default: Any, choices: tuple, what: str = "") -> Any:
        """``key``'s value if it is one of ``choices`` (else a refusal and ``default``)."""
        value = self.get(key, default)
        if value not in choices:
            self.refuse(key, value, f"supported: {', '.join(map(str, choices))}{what}")
            return default
        return value

    def check_rest(self, conv: Converter) -> None:
        """Refuse every key the converter did not read, unless harmless with its value."""
        for key, value in self.config.items():
            if key in self.read:
                continue
            check = conv.harmless.get(key)
            if check is not None:
                if check(value):
                    continue
                ok = _HARMLESS_TEXT.get(check, "its default")
                self.problems.append(f"{self.where()}: option {key}={short(value)} is not supported; only {key}="
                                     f"{ok} (shapeviz cannot reproduce another value)")
                continue
            if key in conv.honours:
                continue  # honoured by reading it, but this converter did not need it here
            known = sorted(conv.honours | {k for k in conv.harmless if k not in COMMON_HARMLESS})
            self.problems.append(f"{self.where()}: option {key}={short(value)} is unknown to shapeviz's "
                                 f"{self.class_name} converter (it knows: {', '.join(known)})")


def convert(class_name: str, name: str, config: dict, keras2: bool, problems: list[str]) -> Any:
    """The shapeviz layer for one Keras layer, or None after recording why it cannot be made."""
    conv = CONVERTERS.get(class_name)
    if conv is None:
        problems.append(f"layer {name!r}: the Keras class {class_name!r} is not supported; supported classes: "
                        f"{', '.join(supported())}")
        return None
    conf = Conf(name, class_name, dict(config), keras2, problems)
    before = len(problems)
    try:
        layer = conv.fn(conf)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - shapeviz refusing the value: said with the layer's name
        problems.append(f"{conf.where()}: {error}")
        layer = None
    conf.check_rest(conv)
    return layer if len(problems) == before else None


def raise_problems(problems: list[str], where: str) -> None:
    """One KerasImportError listing every problem, if there are any."""
    if problems:
        unique = list(dict.fromkeys(problems))
        listed = "\n".join(f"  - {p}" for p in unique)
        raise KerasImportError(f"{where}: cannot import this Keras model exactly ({len(unique)} "
                               f"problem{'s' if len(unique) > 1 else ''}):\n{listed}")

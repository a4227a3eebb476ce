"""Reading a lesson's ``[scenario]`` table: which options each kind takes, their
types and ranges, and errors that name the field to fix (``scenario.d_model: …``).

``tutor.lessons.scenarios`` builds from what this module has checked; the checks live
here so the builders read as the recipe they are.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from engine.config import ModelConfig, TokenError
from engine.config import check_tokens as engine_check_tokens
from engine.expr import did_you_mean
from engine.optim import check_learning_rate

MODEL_FIELDS = tuple(f.name for f in fields(ModelConfig))
OPTIONS = {
    "expression": ("inputs", "program", "output", "params"),
    "mlp": ("sizes", "batch", "activation", "loss"),
    "attention": ("seq_len", "d_model", "n_heads", "causal", "memory_len"),
    "encoder_layer": ("seq_len", "d_model", "n_heads", "d_ff"),
    "decoder_layer": ("seq_len", "memory_len", "d_model", "n_heads", "d_ff"),
    "transformer": MODEL_FIELDS + ("src", "tgt", "weights"),
    "decode": MODEL_FIELDS + ("src", "weights", "start_token", "steps", "temperature"),
}
COMMON = ("seed", "lr")
KINDS = tuple(OPTIONS)


class ScenarioError(ValueError):
    """A scenario table that cannot be built; ``field`` is the dotted name to fix."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def check_kind_and_options(spec) -> str:
    """The spec's kind, once the spec is a table of known options for a known kind."""
    if not isinstance(spec, dict):
        raise ScenarioError("scenario", f"must be a table of options, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind is None:
        raise ScenarioError("scenario.kind", f"missing; choose one of {', '.join(KINDS)}")
    if not isinstance(kind, str) or kind not in OPTIONS:
        raise ScenarioError("scenario.kind", f"unknown kind {kind!r}{did_you_mean(kind, KINDS)};"
                                             f" choose one of {', '.join(KINDS)}")
    allowed = OPTIONS[kind] + COMMON
    for name in spec:
        if name != "kind" and name not in allowed:
            raise ScenarioError(f"scenario.{name}", f"unknown option for kind {kind!r}"
                                f"{did_you_mean(name, allowed)} (options: {', '.join(allowed)})")
    return kind


class SpecReader:
    """Typed access to the options, each error naming its field."""

    def __init__(self, spec: dict):
        self.spec, self.used = spec, {}
        self.kind = check_kind_and_options(spec)

    def get(self, name, default):
        value = self.spec.get(name, default)
        self.used[name] = value
        return value

    def whole(self, name, default, low=1, high=4096) -> int:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"scenario.{name}", f"must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise ScenarioError(f"scenario.{name}", f"must be between {low} and {high}, "
                                                    f"got {value}")
        return value

    def choice(self, name, default, choices) -> str:
        value = self.get(name, default)
        if value not in choices:
            raise ScenarioError(f"scenario.{name}", f"must be one of "
                                f"{', '.join(map(repr, choices))}, got {value!r}")
        return value

    def flag(self, name, default) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise ScenarioError(f"scenario.{name}", f"must be true or false, got {value!r}")
        return value

    def learning_rate(self) -> float | None:
        if "lr" not in self.spec:
            return None
        value = self.get("lr", None)
        if isinstance(value, bool):
            raise ScenarioError("scenario.lr", f"must be a number, got {value!r}")
        try:
            return check_learning_rate(value)
        except ValueError as error:
            raise ScenarioError("scenario.lr", str(error).replace("learning rate ", "")) from None

    def config(self, **sizes) -> ModelConfig:
        """A ModelConfig, its own checks reported against the option they concern."""
        try:
            return ModelConfig(**sizes)
        except ValueError as error:
            message = str(error).replace("ModelConfig.", "")
            name = "n_heads" if "divisible" in message else message.split()[0]
            raise ScenarioError(f"scenario.{name}", message) from None


def check_numbers(value, where: str, depth=0) -> None:
    """A number or a (nested, at most 4 deep) list of numbers; booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, list)):
        raise ScenarioError(where, f"must be a number or a list of numbers, got {value!r:.40}")
    if isinstance(value, list):
        if depth >= 4:
            raise ScenarioError(where, "nests lists more than 4 deep")
        for i, item in enumerate(value):
            check_numbers(item, f"{where}[{i}]", depth + 1)


def check_tokens(value, name: str, config: ModelConfig) -> np.ndarray:
    """A token list (one sequence) or a list of equal-length lists (a batch) → (B, T):
    the TOML shape checked here, the ids by ``engine.config.check_tokens``."""
    where = f"scenario.{name}"
    rows = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    if not all(isinstance(r, list) and r for r in rows):
        raise ScenarioError(where, f"must be a non-empty list of token ids, got {value!r:.60}")
    if len({len(r) for r in rows}) != 1:
        raise ScenarioError(where, "every sequence in a batch needs the same length")
    for row in rows:
        for token in row:
            if isinstance(token, bool) or not isinstance(token, int):
                raise ScenarioError(where, f"token ids must be whole numbers, got {token!r}")
    try:
        return engine_check_tokens(name, rows, config)
    except TokenError as error:
        raise ScenarioError(where, error.reason) from None

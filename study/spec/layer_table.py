"""The Keras layers a layer stack may name, with their constructor arguments, known without importing Keras.

A study file is validated before TensorFlow is imported (a bad input is refused in well under a
second), so the names and arguments of `keras.layers` come from `keras_layers.json`, generated
from the pinned Keras by `python -m study.spec.layer_table` and committed beside this module;
an integration test regenerates it from the installed Keras and fails when they differ.

Left out: layers that need several inputs (Add, Concatenate, attention, …), wrap another layer
or cell (Bidirectional, TimeDistributed, RNN, …), or run foreign code (Lambda, TFSMLayer, …):
none of them fits one `keras.Sequential` written as YAML.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("keras_layers.json")
EXCLUDED = frozenset(
    "Add Average Concatenate Dot Maximum Minimum Multiply Subtract Attention AdditiveAttention "
    "MultiHeadAttention GroupQueryAttention Bidirectional TimeDistributed Wrapper SpectralNormalization RNN "
    "StackedRNNCells GRUCell LSTMCell SimpleRNNCell Pipeline Layer InputLayer Lambda JaxLayer FlaxLayer "
    "TFSMLayer TorchModuleWrapper".split()
)


@cache
def keras_layers() -> dict[str, dict]:
    """{class name: {"args": [argument, …], "required": [argument, …]}} of the usable keras.layers."""
    doc = json.loads(TABLE.read_text(encoding="utf-8"))
    return doc["layers"]


def check_layer(name: str, args: dict, reserved: dict[str, str] | None = None) -> None:
    """Raise ValueError (one line, listing the valid choices) unless `name(**args)` fits the signature;
    `reserved` maps arguments a study file may not set to who sets them instead."""
    table, reserved = keras_layers(), reserved or {}
    if name not in table:
        raise ValueError(f"unknown Keras layer {name!r} (valid: {', '.join(table)})")
    known = [arg for arg in table[name]["args"] if arg not in reserved]
    for arg in args:
        if arg in reserved:
            raise ValueError(f"{name}: {arg} is set by {reserved[arg]}, not per layer")
        if arg not in known:
            raise ValueError(f"{name} has no argument {arg!r} (valid: {', '.join(known)})")
    missing = [arg for arg in table[name]["required"] if arg not in args]
    if missing:
        raise ValueError(f"{name} needs {', '.join(missing)} (arguments: {', '.join(known)})")


def generate() -> dict:
    """The table from the installed Keras: every public layer class's named constructor arguments,
    plus the base Layer's where the class passes **kwargs on."""
    import inspect

    import keras

    def named(fn) -> list[inspect.Parameter]:
        params = list(inspect.signature(fn).parameters.values())[1:]  # without self
        return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    base = [p.name for p in named(keras.layers.Layer.__init__)]
    layers = {}
    for name in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, name)
        if name in EXCLUDED or not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
            continue
        params = named(cls.__init__)
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
        args = [p.name for p in params]
        args += [b for b in base if takes_kwargs and b not in args]
        layers[name] = {"args": args, "required": [p.name for p in params if p.default is p.empty]}
    return {"keras": keras.__version__, "layers": layers}


def write() -> None:
    """Regenerate keras_layers.json from the installed Keras."""
    TABLE.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {TABLE} ({len(keras_layers())} layers)")

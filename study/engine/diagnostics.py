"""Per-layer gradient and activation statistics, computed inside the engine's graph.

At the last iteration of each eval period the training step itself — the real gradient on
the real batch, no second pass — also yields, per layer with a kernel (`dense_k`, `conv_k`):
- `grad_norm/<layer>`: L2 norm of the loss gradient w.r.t. the kernel (`grad_norm_bias/<layer>`:
  w.r.t. the bias);
- `weight_norm/<layer>`: L2 norm of the kernel after the update;
- `update_ratio/<layer>`: ‖ΔW‖ / ‖W‖ of that iteration's update (healthy training sits near 1e-3);
and per hidden activation layer (`act_k`), over the batch:
- `act_mean/<layer>`, `act_std/<layer>`: mean and standard deviation of the outputs;
- `act_saturated/<layer>`: for sigmoid and tanh, the fraction of outputs within 0.02 of an
  asymptote (sigmoid: < 0.02 or > 0.98; tanh: |y| > 0.98) — where the derivative is below ~0.02
  (sigmoid) or ~0.04 (tanh) and gradients stop flowing; 0 for other activations;
- `act_dead/<layer>`: for relu, the fraction of units that output exactly zero for every example
  of the batch (dead for this batch); 0 for other activations.
They are logged every `train.diagnostics_every` iterations (a multiple of `eval_every`).
"""

from __future__ import annotations

from study.engine.backend import keras, tf

SATURATION_MARGIN = 0.02  # "within 0.02 of an asymptote"
BOUNDED = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers whose kernel is trained (dense and conv, nested ones too), in the order they were added."""
    return [layer for layer in all_layers(model) if trainable_kernel(layer)]


def all_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Every layer inside `layer` (the sublayers of blocks and nested models too), depth first in the order
    each was added; a layer shared by several blocks once."""
    out: list[keras.layers.Layer] = []
    seen: set[int] = set()

    def walk(parent: keras.layers.Layer) -> None:
        for sub in parent._flatten_layers(include_self=False, recursive=False):  # Keras's own tracked sublayers
            if id(sub) not in seen:
                seen.add(id(sub))
                out.append(sub)
                walk(sub)

    walk(layer)
    return out


def trainable_kernel(layer: keras.layers.Layer) -> bool:
    """Whether the layer has a kernel that training updates."""
    kernel = getattr(layer, "kernel", None)
    return kernel is not None and layer.trainable and bool(getattr(kernel, "trainable", False))


def activation_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Hidden activation layers (`keras.layers.Activation`; the study's are named act_k) of a Sequential or
    Functional model, in depth order; the output layer (the softmax) is not one. A subclassed model's layers
    have no outputs to read: none."""
    if not has_layer_graph(model) or not model.layers:
        return []
    found = [layer for layer in model.layers[:-1] if isinstance(layer, keras.layers.Activation)]
    return found if isinstance(model, keras.Sequential) else [layer for layer in found if has_one_output(layer)]


def has_one_output(layer: keras.layers.Layer) -> bool:
    """Whether a Functional model's layer has one output tensor to read (a layer called twice has two)."""
    try:
        return layer.output is not None
    except (AttributeError, ValueError):
        return False


def has_layer_graph(model: keras.Model) -> bool:
    """Sequential or Functional: a graph of layers whose outputs can be read, unlike a subclassed model's call."""
    from keras.src.models.functional import Functional

    return isinstance(model, (keras.Sequential, Functional))


def kernel_names(model: keras.Model) -> list[str]:
    """The names the kernel layers' statistics carry: the layer's name, numbered where two layers share one."""
    return unique([layer.name for layer in kernel_layers(model)])


def unique(names: list[str]) -> list[str]:
    """Names made unique by appending `_2`, `_3` … to repeats, in order."""
    counts: dict[str, int] = {}
    out = []
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        out.append(name if counts[name] == 1 else f"{name}_{counts[name]}")
    return out


def layer_activations(model: keras.Model) -> dict[str, str]:
    """Each hidden activation layer's name -> its function's name, e.g. {"act_1": "sigmoid"}."""
    return {layer.name: activation_name(layer) for layer in activation_layers(model)}


def activation_name(layer: keras.layers.Layer) -> str:
    """The activation function's name, e.g. 'sigmoid'."""
    return getattr(layer.activation, "__name__", str(layer.activation))


def stat_names(model: keras.Model) -> list[str]:
    """Metric names in the order `layer_stats` returns them."""
    names = []
    for name in kernel_names(model):
        names += [f"grad_norm/{name}", f"grad_norm_bias/{name}", f"weight_norm/{name}", f"update_ratio/{name}"]
    for layer in activation_layers(model):
        names += [
            f"act_mean/{layer.name}",
            f"act_std/{layer.name}",
            f"act_saturated/{layer.name}",
            f"act_dead/{layer.name}",
        ]
    return names


def saturated_fraction(y: tf.Tensor, fn: str) -> tf.Tensor:
    """Fraction of outputs within SATURATION_MARGIN of a bounded activation's asymptotes."""
    if fn not in BOUNDED:
        return tf.constant(0.0)
    low, high = BOUNDED[fn]
    near = tf.logical_or(y < low + SATURATION_MARGIN, y > high - SATURATION_MARGIN)
    return tf.reduce_mean(tf.cast(near, tf.float32))


def dead_fraction(y: tf.Tensor, fn: str) -> tf.Tensor:
    """Fraction of relu units that are zero for every example of the batch."""
    if fn != "relu":
        return tf.constant(0.0)
    units = tf.reshape(y, [tf.shape(y)[0], -1])
    alive = tf.reduce_any(units > 0, axis=0)
    return 1.0 - tf.reduce_mean(tf.cast(alive, tf.float32))


def layer_stats(
    model: keras.Model, grads: dict[str, tf.Tensor], before: dict[str, tf.Tensor], acts: dict[str, tf.Tensor]
) -> tf.Tensor:
    """One vector of every statistic (see `stat_names`) for the step just taken.

    grads: variable path -> gradient; before: kernel path -> kernel before the update;
    acts: activation layer name -> its output on the batch.
    """
    out = []
    for layer in kernel_layers(model):
        k, b = layer.kernel, getattr(layer, "bias", None)
        w = tf.convert_to_tensor(k)
        w_norm = tf.norm(w)
        out += [
            tf.norm(grads[k.path]),
            tf.norm(grads[b.path]) if b is not None and b.path in grads else tf.constant(0.0),
            w_norm,
            tf.norm(w - before[k.path]) / tf.maximum(w_norm, 1e-12),
        ]
    for layer in activation_layers(model):
        y, fn = acts[layer.name], activation_name(layer)
        mean, var = tf.nn.moments(tf.reshape(y, [-1]), axes=[0])
        out += [mean, tf.sqrt(var), saturated_fraction(y, fn), dead_fraction(y, fn)]
    return tf.stack([tf.cast(v, tf.float32) for v in out])

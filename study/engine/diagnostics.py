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


def kernel_layers(model: keras.Sequential) -> list[keras.layers.Layer]:
    """Layers whose kernel is trained (dense and conv), in depth order."""
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def activation_layers(model: keras.Sequential) -> list[keras.layers.Layer]:
    """Hidden activation layers (named act_k), in depth order; the output softmax is not one."""
    return [layer for layer in model.layers if layer.name.startswith("act_")]


def layer_activations(model: keras.Sequential) -> dict[str, str]:
    """Each hidden activation layer's name -> its function's name, e.g. {"act_1": "sigmoid"}."""
    return {layer.name: activation_name(layer) for layer in activation_layers(model)}


def activation_name(layer: keras.layers.Layer) -> str:
    """The activation function's name, e.g. 'sigmoid'."""
    return getattr(layer.activation, "__name__", str(layer.activation))


def stat_names(model: keras.Sequential) -> list[str]:
    """Metric names in the order `layer_stats` returns them."""
    names = []
    for layer in kernel_layers(model):
        names += [
            f"grad_norm/{layer.name}",
            f"grad_norm_bias/{layer.name}",
            f"weight_norm/{layer.name}",
            f"update_ratio/{layer.name}",
        ]
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
    model: keras.Sequential, grads: dict[str, tf.Tensor], before: dict[str, tf.Tensor], acts: dict[str, tf.Tensor]
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

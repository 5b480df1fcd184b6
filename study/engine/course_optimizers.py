"""The course notebook's own optimiser update rules as one Keras optimiser (`optimizer.rule: course`).

The optimiser notebook updates every parameter (weights and biases) with its own loop; per
parameter `w` with gradient `g` at iteration `t = 1, 2, …`:

- sgd:      `w ← w − lr·g`
- momentum: `v ← m·v − lr·g;  w ← w + v`                                   (v starts at 0)
- adagrad:  `h ← 1e-4` at t = 1 (no gradient added), `h ← h + g²` after;  `w ← w − lr·g / sqrt(h)`
- rmsprop:  `h ← ρ·h + (1 − ρ)·g²;  w ← w − lr·g / (sqrt(h) + eps)`          (h starts at 0)
- adam:     `lr_t = lr·sqrt(1 − β2ᵗ) / (1 − β1ᵗ);  m ← m + (1 − β1)(g − m);  v ← v + (1 − β2)(g² − v);
            w ← w − lr_t·m / (sqrt(v) + eps)`                              (m, v start at 0)

Keras's Adagrad instead starts h at `initial_accumulator` and divides by `sqrt(h + eps)`, and its
RMSprop divides by `sqrt(h + eps)`: their first steps differ from these.
Being a `keras.optimizers.Optimizer`, this one takes Keras's schedules, clipnorm and clipvalue.
"""

from __future__ import annotations

from study.engine.backend import keras

ops = keras.ops
ADAGRAD_H0 = 1e-4  # the notebook's `np.full_like(param, 1e-4)` at the first iteration
RULES = ("sgd", "momentum", "adagrad", "rmsprop", "adam")


class CourseOptimizer(keras.optimizers.Optimizer):
    """One of the course notebook's update rules (`rule`, see the module docstring) as a Keras optimiser."""

    def __init__(
        self,
        rule: str,
        learning_rate=0.01,
        momentum: float = 0.9,
        rho: float = 0.99,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        name: str | None = None,
        **kwargs,
    ):
        if rule not in RULES:
            raise ValueError(f"unknown course rule {rule!r} (valid: {', '.join(RULES)})")
        super().__init__(learning_rate=learning_rate, name=name or f"course_{rule}", **kwargs)
        self.rule, self.momentum, self.rho = rule, momentum, rho
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list):
        """One slot per variable (two for Adam): velocity, accumulator h, or the moments m and v."""
        if self.built:
            return
        super().build(var_list)
        if self.rule == "sgd":
            return
        start = ADAGRAD_H0 if self.rule == "adagrad" else 0.0
        self._slots = self.add_optimizer_variables(var_list, "slot", initializer=keras.initializers.Constant(start))
        if self.rule == "adam":
            self._second = self.add_optimizer_variables(var_list, "second")

    def update_step(self, gradient, variable, learning_rate):
        """One course update of `variable` (see the module docstring)."""
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        if self.rule == "sgd":
            self.assign_sub(variable, ops.multiply(lr, g))
            return
        slot = self._slots[self._get_variable_index(variable)]
        if self.rule == "momentum":
            self.assign(slot, ops.subtract(ops.multiply(self.momentum, slot), ops.multiply(lr, g)))
            self.assign_add(variable, slot)
        elif self.rule == "adagrad":
            after_first = ops.cast(ops.greater(self.iterations, 0), variable.dtype)  # t = 1 keeps h = 1e-4
            self.assign_add(slot, ops.multiply(after_first, ops.square(g)))
            self.assign_sub(variable, ops.divide(ops.multiply(lr, g), ops.sqrt(slot)))
        elif self.rule == "rmsprop":
            self.assign(slot, ops.add(ops.multiply(self.rho, slot), ops.multiply(1 - self.rho, ops.square(g))))
            self.assign_sub(variable, ops.divide(ops.multiply(lr, g), ops.add(ops.sqrt(slot), self.epsilon)))
        else:
            self._adam(g, variable, slot, lr)

    def _adam(self, g, variable, m, lr) -> None:
        """The course's Adam: bias correction folded into the step size, eps outside the root.

        The correction is computed in float64, as the notebook's Python floats are: in float32
        `1 − 0.999ᵗ` loses ~1e-5 of its value to cancellation in the first steps.
        """
        v = self._second[self._get_variable_index(variable)]
        t = ops.cast(self.iterations + 1, "float64")
        correction = ops.sqrt(1 - ops.power(float(self.beta_2), t)) / (1 - ops.power(float(self.beta_1), t))
        lr_t = lr * ops.cast(correction, variable.dtype)
        self.assign_add(m, ops.multiply(1 - self.beta_1, ops.subtract(g, m)))
        self.assign_add(v, ops.multiply(1 - self.beta_2, ops.subtract(ops.square(g), v)))
        self.assign_sub(variable, ops.divide(ops.multiply(lr_t, m), ops.add(ops.sqrt(v), self.epsilon)))

    def get_config(self):
        config = super().get_config()
        config.update(
            rule=self.rule,
            momentum=self.momentum,
            rho=self.rho,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
        )
        return config

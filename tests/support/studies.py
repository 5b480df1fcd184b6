"""Small studies and settings that tests of more than one tier use: the API's tiny study, the expect
smoke study, the grid's two axes, a conv stack, a ModelConfig from layers, the preflight's CNN study."""

from __future__ import annotations

from study.spec.model import ModelConfig

TINY = """\
study: apitiny
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  model: {hidden: [20], initializer: he}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 40, batch_size: 30, eval_every: 10}
grid:
  model.activation: [sigmoid, relu]
seeds: 2
expect:
  - cells: {activation: relu}
    final_test_acc: [0.3, 1.0]
"""


SMOKE = """\
study: expect_smoke
base:
  data: {name: mnist, train_size: 500, test_size: 200}
  model: {hidden: [20]}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 40, batch_size: 50, eval_every: 20, diagnostics_every: 0}
grid:
  model.activation: [sigmoid, relu]
  model.initializer: [gauss, he]
seeds: [0]
"""


def with_expect(text: str) -> str:
    return SMOKE + "expect:\n" + text


TWO_AXES = """\
study: grid
base:
  data: {name: mnist, train_size: 1000}
  model: {hidden: [40, 20], init_std: 0.01}
  train: {iterations: 100, batch_size: 50, eval_every: 10}
grid:
  model.activation: [sigmoid, relu]
  model.initializer: [gauss, xavier, he]
seeds: [0, 1]
"""


CONV_STACK = [
    {"type": "conv2d", "filters": 2, "kernel": 3},
    {"type": "activation", "name": "relu"},
    {"type": "max_pool"},
    {"type": "dense", "units": 10},
]


def model(*layers: dict) -> ModelConfig:
    return ModelConfig.model_validate({"layers": list(layers)})


CNN = """\
study: cnn_probe
base:
  data: {name: mnist, train_size: 500, test_size: 200}
  model: {arch: small}
  optimizer: {name: adam, lr: 0.001}
  train: {iterations: 20, batch_size: 50, eval_every: 10}
architectures:
  small:
    - {type: conv2d, filters: 4, kernel: 5}
    - {type: activation, name: relu}
    - {type: max_pool, pool: 2}
    - {type: dense, units: 10}
  %s
grid:
  model.arch: [small, other]
"""


def other(*layers: str) -> str:
    """CNN with a second architecture `other` made of these layers (YAML flow mappings)."""
    return CNN % ("other:\n" + "".join(f"    - {layer}\n" for layer in layers))

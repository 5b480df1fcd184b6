"""What a study is: the typed schema (one module per section), reading YAML and `--set`, the messages,
the settings reference, the task, the layer table and which settings take effect.

A study file has five parts::

    study: vanishing_gradient          # name: the MLflow experiment
    description: ...                   # shown in the report and the MLflow UI
    base: {data: ..., model: ..., optimizer: ..., train: ...}   # every setting; defaults below
    grid: {model.activation: [sigmoid, relu], ...}              # dotted key -> list of values
    search: {params: {optimizer.lr: {loguniform: [1e-4, 0.1]}}, trials: 30}   # or: sampled trials
    exclude: [{model.activation: relu, model.initializer: gauss}]   # optional
    seeds: [0, 1, 2]                   # or a count: `seeds: 3` means [0, 1, 2]
    architectures: {name: [layer, ...]}   # optional named layer stacks for `model.arch`

Every default lives in this package, once, one module per section of the study file, with the whole
file (`StudyFile`) and a loaded `Study` beside them. A file read into these models with an
unknown key, a wrong type or an impossible value raises ConfigError with one line naming the file,
the key, the bad value and the valid choices.
"""

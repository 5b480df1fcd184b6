"""The committed Keras layer table (study/spec/keras_layers.json) is the installed Keras's, and validating a
Keras stack imports no TensorFlow (in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

from study.spec.layer_table import TABLE, generate


def test_the_committed_table_is_the_installed_keras():
    committed = json.loads(TABLE.read_text(encoding="utf-8"))
    assert committed == generate(), "regenerate it: python -m study.spec.layer_table"


def test_validating_a_keras_stack_does_not_import_tensorflow():
    code = (
        "import sys; from study.spec.model import ModelConfig; "
        "ModelConfig.model_validate({'layers': [{'type': 'Conv2D', 'filters': 4, 'kernel_size': 3}, "
        "{'type': 'GlobalAveragePooling2D'}, {'type': 'dense', 'units': 10}]}); "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

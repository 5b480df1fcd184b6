"""Helpers of the tests, shared across test modules and tiers (a test module imports no other test module).

- paths.py: the repository's root.
- guard.py: the unit tier's rules (no TensorFlow, no process, no network), armed by tests/conftest.py.
- doubles.py: engine callbacks that record what the engine hands out, or fail on purpose.
- handbuilt.py, student_store.py: MLflow stores built by hand, with values known in advance.
- runs.py: the end-to-end study, a study's runs, blank stores, `study run` in this process.
- faults.py, bad_input.py, searches.py, trainer.py: the execution tests' studies and harnesses.
- data_files.py, engine_data.py, store.py, studies.py: inputs of the data, engine, store and other tests.
- tracking_server.py, browser.py: a real `mlflow server`; `study ui` for the browser tests.
"""

"""The cells of one process share a store client, opened again when its SQLite file was replaced."""

import shutil

from study.store.runs import shared_store


def test_cells_share_one_client_until_the_database_file_is_replaced(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    first = shared_store(uri)
    assert shared_store(uri) is first
    assert first.client.search_experiments()  # the store was created and is usable
    shutil.rmtree(tmp_path / "mlruns")  # e.g. a user deleting the store between two `study.run` calls
    second = shared_store(uri)
    assert second is not first
    assert (tmp_path / "mlruns" / "mlflow.db").exists()
    assert shared_store(uri) is second

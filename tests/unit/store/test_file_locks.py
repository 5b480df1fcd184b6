"""The OS file locks of the store (study/store/claims.try_lock, search_home.search_lock), in one process:
taken without waiting while free, refused (None) while held by any other lock on the file, given back
by `release` from any thread. That the OS drops a dead holder's lock: tests/system/store/test_claims.py."""

from __future__ import annotations

import threading

import pytest

from study.store.claims import Claim, try_lock
from study.store.search_home import search_lock


def test_a_held_lock_is_refused_without_waiting_until_released(tmp_path):
    path = tmp_path / "cell.lock"
    first = try_lock(path)
    assert first is not None and first.is_locked and path.is_file()
    assert try_lock(path) is None  # another lock on the same file: even this process does not get it
    other = try_lock(tmp_path / "other.lock")
    assert other is not None  # another file is another lock
    first.release()
    again = try_lock(path)
    assert again is not None
    again.release()
    other.release()
    assert path.is_file()  # the lock file stays, one per cell ever trained


def test_a_claim_taken_in_one_thread_is_released_by_another(tmp_path):
    """The cell's thread takes the claim, the background writer gives it back once the run has ended."""
    path = tmp_path / "cell.lock"
    claim = Claim(try_lock(path))
    releaser = threading.Thread(target=claim.release)
    releaser.start()
    releaser.join()
    assert claim.lock is None
    again = try_lock(path)
    assert again is not None
    again.release()
    claim.release()  # releasing twice is harmless


def test_an_empty_claim_releases_nothing_but_its_callback():
    called = []
    claim = Claim(None, lambda: called.append(1))
    claim.release()
    claim.release()
    assert called == [1]


def test_the_search_lock_excludes_a_second_holder_until_it_is_left(tmp_path):
    order = []

    def second() -> None:
        with search_lock(tmp_path, "s"):
            order.append("second")

    with search_lock(tmp_path, "s"):
        order.append("first")
        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(timeout=0.3)
        assert waiter.is_alive()  # blocked while the first holds the lock
        order.append("first ends")
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert order == ["first", "first ends", "second"]
    assert (tmp_path / "claims" / "search-s.lock").is_file()


def test_the_search_lock_is_left_when_its_body_raises(tmp_path):
    with pytest.raises(RuntimeError), search_lock(tmp_path, "s"):
        raise RuntimeError("boom")
    lock = try_lock(tmp_path / "claims" / "search-s.lock")
    assert lock is not None
    lock.release()

"""Ctrl-C and SIGTERM in the `study` process: raised at once, or kept while a cell's run is being closed."""

from __future__ import annotations

import signal

import pytest

from study.errors import Terminated
from study.execution import interrupts


@pytest.fixture
def installed():
    """The `study` process's handlers, restored afterwards (pytest keeps its own SIGINT handler)."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def test_sigterm_outside_a_held_block_raises_terminated_at_once(installed):
    with pytest.raises(Terminated):
        signal.raise_signal(signal.SIGTERM)


def test_sigint_raises_a_plain_keyboard_interrupt(installed):
    with pytest.raises(KeyboardInterrupt) as caught:
        signal.raise_signal(signal.SIGINT)
    assert not isinstance(caught.value, Terminated)


def test_a_signal_in_a_held_block_waits_for_deliver(installed):
    finished = False
    with interrupts.held():
        signal.raise_signal(signal.SIGTERM)
        finished = True  # the block's work goes on to its end
    assert finished
    with pytest.raises(Terminated):
        interrupts.deliver()
    interrupts.deliver()  # delivered once only


def test_nested_blocks_deliver_only_when_the_outer_one_ends(installed):
    with interrupts.held():
        with interrupts.held():
            signal.raise_signal(signal.SIGINT)
        interrupts.deliver()  # the outer block still holds it
    with pytest.raises(KeyboardInterrupt):
        interrupts.deliver()


def test_a_second_signal_in_a_held_block_acts_at_once(installed):
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    interrupts.deliver()  # nothing is left kept after the one that acted


def test_without_install_a_held_block_holds_nothing():
    """A notebook's or a worker's Ctrl-C keeps its usual effect inside the block."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    reached = False
    try:
        with pytest.raises(KeyboardInterrupt), interrupts.held():
            signal.raise_signal(signal.SIGINT)
            reached = True
    finally:
        signal.signal(signal.SIGINT, before)
    assert not reached

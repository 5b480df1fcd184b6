"""TensorFlow's quiet import (study/runtime/tensorflow_setup.py) hides TensorFlow's start-up chatter, not what
the rest of the process says meanwhile (the engine warm-up imports it on a background thread)."""

import subprocess
import sys

CODE = """
import sys, threading, time
done = threading.Event()
def load():
    import study.runtime.tensorflow_setup
    done.set()
threading.Thread(target=load).start()
n = 0
while not done.is_set():
    print(f"line {n}", file=sys.stderr)
    n += 1
    time.sleep(0.01)
print(f"line {n}", file=sys.stderr)
print(n + 1)
"""


def test_lines_printed_on_another_thread_during_the_import_reach_stderr():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    printed = int(out.stdout.strip())
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("line ")]
    assert printed > 10  # the import took a while, and the main thread printed all along
    assert lines == [f"line {k}" for k in range(printed)]

"""NumPy baseline: the course's `MultiLayerNet` training loop, re-implemented layer by layer.

Protocol ("the course's protocol"): MNIST, dense net 784-40-20-10, SGD lr 0.1, batches of 100
drawn with replacement, 2,000 iterations, full 10,000-image test set evaluated every 10 iterations.

Run one cell:  STUDY_DATA_DIR=... python -m benchmarks.numpy_course --activation sigmoid
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HIDDEN_SIZES = (40, 20)
INPUT_SIZE = 784
OUTPUT_SIZE = 10
LEARNING_RATE = 0.1
BATCH_SIZE = 100
ITERATIONS = 2000
EVAL_EVERY = 10

MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


# --------------------------------------------------------------------------- data


def read_idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file (uint8 payload) into an array of its declared shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def data_dir_from_env() -> Path:
    """The MNIST directory named by the STUDY_DATA_DIR environment variable."""
    value = os.environ.get("STUDY_DATA_DIR")
    if not value:
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX .gz files")
    return Path(value)


def load_mnist(data_dir: Path | None = None):
    """MNIST as (x_train, y_train, x_test, y_test): float32 (N, 784) in [0, 1] and int32 labels."""
    data_dir = Path(data_dir) if data_dir is not None else data_dir_from_env()
    arrays = {name: read_idx(data_dir / fname) for name, fname in MNIST_FILES.items()}
    x_train = arrays["x_train"].reshape(-1, INPUT_SIZE).astype(np.float32) / 255.0
    x_test = arrays["x_test"].reshape(-1, INPUT_SIZE).astype(np.float32) / 255.0
    return x_train, arrays["y_train"].astype(np.int32), x_test, arrays["y_test"].astype(np.int32)


# --------------------------------------------------------------------------- layers


class Affine:
    """x @ W + b; keeps x for backward, stores dW and db."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return dout @ self.W.T


class Sigmoid:
    """Logistic sigmoid; keeps its output y, backward is dout * (1 - y) * y."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = 1.0 / (1.0 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Relu:
    """max(0, x); keeps the mask of non-positive inputs."""

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax with the max subtracted for stability."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(y: np.ndarray, t_onehot: np.ndarray) -> float:
    """Mean cross-entropy with the course's 1e-7 guard inside the log."""
    return float(-np.sum(t_onehot * np.log(y + 1e-7)) / y.shape[0])


class SoftmaxWithLoss:
    """Softmax + cross-entropy on one-hot targets; backward is (y - t) / batch."""

    def __init__(self):
        self.y = self.t = None

    def forward(self, x, t_onehot):
        self.y, self.t = softmax(x), t_onehot
        return cross_entropy(self.y, t_onehot)

    def backward(self, dout=1.0):
        return (self.y - self.t) / self.t.shape[0]


# --------------------------------------------------------------------------- network

ACTIVATIONS = {"sigmoid": Sigmoid, "relu": Relu}


def init_std(init: str, fan_in: int) -> float:
    """Weight scale: 0.01 ('gauss'), sqrt(1/fan_in) ('xavier') or sqrt(2/fan_in) ('he')."""
    if init == "gauss":
        return 0.01
    if init == "xavier":
        return float(np.sqrt(1.0 / fan_in))
    if init == "he":
        return float(np.sqrt(2.0 / fan_in))
    raise ValueError(f"unknown init {init!r}; expected gauss, xavier or he")


class MultiLayerNet:
    """Affine -> activation for each hidden layer, then Affine -> SoftmaxWithLoss."""

    def __init__(self, activation: str, init: str, rng: np.random.Generator, dtype=np.float64):
        sizes = (INPUT_SIZE, *HIDDEN_SIZES, OUTPUT_SIZE)
        self.affines = [
            Affine(
                (init_std(init, n_in) * rng.standard_normal((n_in, n_out))).astype(dtype),
                np.zeros(n_out, dtype=dtype),
            )
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        ]
        self.layers = []
        for affine in self.affines[:-1]:
            self.layers += [affine, ACTIVATIONS[activation]()]
        self.layers.append(self.affines[-1])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x):
        """Logits (pre-softmax scores) for x."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def gradient(self, x, t_onehot) -> float:
        """Forward + layer-wise backward; leaves dW/db on each Affine, returns the batch loss."""
        loss = self.last_layer.forward(self.predict(x), t_onehot)
        dout = self.last_layer.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return loss

    def sgd_step(self, lr: float):
        """params -= lr * grad, in place."""
        for affine in self.affines:
            affine.W -= lr * affine.dW
            affine.b -= lr * affine.db


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the integer label."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


# --------------------------------------------------------------------------- one cell


@dataclass
class CellResult:
    """Outcome of one benchmark cell; histories have one entry per evaluation."""

    seconds: float
    final_test_accuracy: float
    test_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    batch_accuracy: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)


def one_hot(labels: np.ndarray, dtype) -> np.ndarray:
    """(N,) integer labels -> (N, 10) one-hot in dtype."""
    return np.eye(OUTPUT_SIZE, dtype=dtype)[labels]


def run_cell(
    activation: str = "sigmoid",
    init: str = "xavier",
    seed: int = 0,
    dtype=np.float64,
    data=None,
    iterations: int = ITERATIONS,
) -> CellResult:
    """Train one cell under the course's protocol; `data` is load_mnist()'s tuple (loaded if None).

    The timer covers weight init, the training loop and the evaluations, not the data load or
    the dtype conversion of the data set.
    """
    x_train, y_train, x_test, y_test = data if data is not None else load_mnist()
    x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    t_train, t_test = one_hot(y_train, dtype), one_hot(y_test, dtype)
    result = CellResult(seconds=0.0, final_test_accuracy=0.0)

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    net = MultiLayerNet(activation, init, rng, dtype)
    for step in range(1, iterations + 1):
        idx = rng.choice(x_train.shape[0], BATCH_SIZE)  # with replacement, as the course
        net.gradient(x_train[idx], t_train[idx])
        net.sgd_step(LEARNING_RATE)
        if step % EVAL_EVERY == 0:
            record_eval(net, result, step, x_train[idx], y_train[idx], x_test, y_test, t_test)
    result.seconds = time.perf_counter() - start
    result.final_test_accuracy = result.test_accuracy[-1]
    return result


def record_eval(net, result, step, x_batch, y_batch, x_test, y_test, t_test):
    """Append test accuracy/loss (one full-test-set forward pass) and batch accuracy."""
    logits = net.predict(x_test)
    result.test_accuracy.append(accuracy(logits, y_test))
    result.test_loss.append(cross_entropy(softmax(logits), t_test))
    result.batch_accuracy.append(accuracy(net.predict(x_batch), y_batch))
    result.steps.append(step)


def main(argv=None):
    """CLI: run one cell and print its seconds and final test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid")
    parser.add_argument("--init", choices=["gauss", "xavier", "he"], default="xavier")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    r = run_cell(args.activation, args.init, args.seed, np.dtype(args.dtype))
    print(
        f"{args.activation}/{args.init}/{args.dtype}: {r.seconds:.2f} s, "
        f"final test accuracy {r.final_test_accuracy:.4f}"
    )


if __name__ == "__main__":
    main()

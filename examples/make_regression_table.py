"""Write a user-style CSV regression table, for configs/regression_table.yaml.

    python examples/make_regression_table.py           # data/regression/train.csv and test.csv
    python examples/make_regression_table.py --out DIR --train 3000 --test 1000 --seed 0

Columns ``x1``, ``x2``, ``x3`` (uniform on [-2, 2]) and the target ``y = 2·sin(1.5·x1) + x2² − x3 + ε``
with Gaussian noise ε of sd 0.1. A linear model cannot follow the sine and the square; a net with a
hidden layer can, down to the noise: the best possible mean absolute error is 0.1·√(2/π) ≈ 0.080.
The script also prints the best *linear* fit's test MAE (least squares on the training rows), the
bar a net must beat. Deterministic: the same arguments always write the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NOISE = 0.1
COLUMNS = ("x1", "x2", "x3", "y")


def table(n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows of (x1, x2, x3, y)."""
    x = rng.uniform(-2.0, 2.0, (n, 3))
    y = 2.0 * np.sin(1.5 * x[:, 0]) + x[:, 1] ** 2 - x[:, 2] + rng.normal(0.0, NOISE, n)
    return np.column_stack([x, y])


def linear_test_mae(train: np.ndarray, test: np.ndarray) -> float:
    """Mean absolute test error of the least-squares linear fit (with intercept) to the training rows."""
    design = np.column_stack([train[:, :3], np.ones(len(train))])
    coef, *_ = np.linalg.lstsq(design, train[:, 3], rcond=None)
    pred = np.column_stack([test[:, :3], np.ones(len(test))]) @ coef
    return float(np.mean(np.abs(pred - test[:, 3])))


def write_csv(path: Path, rows: np.ndarray) -> None:
    """A header, then one row per sample with 6 decimals (the file is the dataset)."""
    lines = [",".join(COLUMNS)] + [",".join(f"{v:.6f}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/regression"), help="directory (default data/regression)")
    parser.add_argument("--train", type=int, default=3000, help="training rows (default 3000)")
    parser.add_argument("--test", type=int, default=1000, help="test rows (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    train, test = table(args.train, rng), table(args.test, rng)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("test", test)):
        write_csv(args.out / f"{name}.csv", rows)
        print(f"wrote {args.out / f'{name}.csv'} ({len(rows)} rows)")
    print(f"best linear fit: test MAE {linear_test_mae(train, test):.3f}; noise floor {NOISE * np.sqrt(2 / np.pi):.3f}")


if __name__ == "__main__":
    main()

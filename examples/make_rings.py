"""Write a user-style CSV dataset: two noisy concentric rings, for configs/rings.yaml.

    python examples/make_rings.py                # data/rings/train.csv and data/rings/test.csv
    python examples/make_rings.py --out DIR --train 2000 --test 1000 --seed 0

Each row is one point: columns ``x1``, ``x2`` (the coordinates) and ``ring`` (0 inner, 1 outer),
half the points in each ring, radii 1 and 2 with Gaussian noise (sd 0.25). No straight line
separates the rings, so a net without a hidden layer stays near 0.5 accuracy while one hidden
ReLU layer separates them. Deterministic: the same arguments always write the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

RADII = (1.0, 2.0)
NOISE = 0.25


def rings(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points (n // 2 per ring, the remainder in the outer one), shuffled; (x of shape (n, 2), ring)."""
    label = np.repeat([0, 1], [n // 2, n - n // 2])
    rng.shuffle(label)
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    radius = np.take(RADII, label) + rng.normal(0.0, NOISE, n)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]), label


def write_csv(path: Path, x: np.ndarray, label: np.ndarray) -> None:
    """One header row, then `x1,x2,ring` per point (6 decimals: the file is the dataset)."""
    lines = ["x1,x2,ring"] + [f"{a:.6f},{b:.6f},{c}" for (a, b), c in zip(x, label)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/rings"), help="directory to write (default data/rings)")
    parser.add_argument("--train", type=int, default=2000, help="training points (default 2000)")
    parser.add_argument("--test", type=int, default=1000, help="test points (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", args.train), ("test", args.test)):
        write_csv(args.out / f"{name}.csv", *rings(n, rng))
        print(f"wrote {args.out / f'{name}.csv'} ({n} rows)")


if __name__ == "__main__":
    main()

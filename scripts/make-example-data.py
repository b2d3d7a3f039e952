#!/usr/bin/env python3
"""Write the example training data (CSV channels ``train`` and ``validation``).

The data is scikit-learn's bundled breast-cancer data set (569 rows, 30 features, binary label;
shipped inside the scikit-learn wheel, so nothing is downloaded). The layout matches what the
example containers read and what a SageMaker channel prefix holds:

    DEST/train/train.csv            455 rows
    DEST/validation/validation.csv  114 rows

Each row is ``label,feature_1,...,feature_30`` with no header (SageMaker's built-in CSV
convention: label in the first column). The split is stratified with a fixed seed and the
numbers are written with a fixed format, so the files are byte-identical on every run.

Usage:  python3 scripts/make-example-data.py [DEST]   (default: ./data/example)
As a module (the file name has a hyphen, so load it by path):
    spec = importlib.util.spec_from_file_location("make_example_data", path); ...
    write_example_data(dest_dir) -> {"train": Path(...), "validation": Path(...)}
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

CHANNELS = ("train", "validation")
VALIDATION_FRACTION = 0.2
SPLIT_SEED = 20240601


def example_rows() -> dict[str, list[list[float]]]:
    """Rows per channel, label first. Deterministic."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    features, labels = load_breast_cancer(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        features,
        labels,
        test_size=VALIDATION_FRACTION,
        random_state=SPLIT_SEED,
        stratify=labels,
    )
    return {
        "train": [[float(y), *map(float, x)] for x, y in zip(x_train, y_train, strict=True)],
        "validation": [[float(y), *map(float, x)] for x, y in zip(x_val, y_val, strict=True)],
    }


def _csv_text(rows: list[list[float]]) -> str:
    out = io.StringIO()
    for row in rows:
        label, *features = row
        out.write(",".join([str(int(label)), *(f"{v:.10g}" for v in features)]))
        out.write("\n")
    return out.getvalue()


def write_example_data(dest_dir: str | Path) -> dict[str, Path]:
    """Write DEST/<channel>/<channel>.csv for each channel; return channel -> file path.

    Files whose content is already right are left untouched (idempotent, keeps mtimes).
    """
    dest = Path(dest_dir)
    written: dict[str, Path] = {}
    for channel, rows in example_rows().items():
        path = dest / channel / f"{channel}.csv"
        text = _csv_text(rows)
        if not (path.is_file() and path.read_text() == text):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".csv.tmp")
            tmp.write_text(text)
            tmp.replace(path)
        written[channel] = path
    return written


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) > 2:
        print("usage: make-example-data.py [DEST]", file=sys.stderr)
        return 2
    dest = Path(argv[1]) if len(argv) == 2 else Path("data/example")
    for channel, path in write_example_data(dest).items():
        print(f"{channel}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

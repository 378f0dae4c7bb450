"""Fit the sentiment calibration (monitoring/scoring/sentiment.py CALIBRATION) on the VADER tweets.

    python scripts/fit_sentiment_calibration.py PATH/tweets_GroundTruth.txt

The file is `hutto_ICWSM_2014/tweets_GroundTruth.txt` from cjhutto/vaderSentiment @44fc044
(`additional_resources/hutto_ICWSM_2014.tar.gz`, MIT): id, mean rating (-4..4), text. It is read
from outside the repository; only the fitted weights are shipped (printed for pasting). Ridge
regression of rating/4 on the engine's calibration features, solved in closed form.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitoring.scoring import sentiment
from monitoring.scoring.text import tokenize

RIDGE = 1.0


def solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the system is tiny and well conditioned)."""
    n = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col and rows[r][col]:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] / rows[i][i] for i in range(n)]


def main() -> None:
    samples: list[tuple[dict[str, float], float]] = []
    for line in Path(sys.argv[1]).read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        text = parts[2]
        compound, contributions = sentiment.compound_score(text, tokenize(text), "en")
        samples.append((sentiment.features(text, compound, contributions), float(parts[1]) / 4))
    names = list(samples[0][0])
    gram = [[0.0] * len(names) for _ in names]
    target = [0.0] * len(names)
    for x, y in samples:
        values = [x[name] for name in names]
        for i, a in enumerate(values):
            target[i] += a * y
            for j, b in enumerate(values):
                gram[i][j] += a * b
    for i, name in enumerate(names):
        if name != "bias":
            gram[i][i] += RIDGE
    weights = solve(gram, target)
    print(f"# {len(samples)} tweets, ridge {RIDGE}")
    print("CALIBRATION: dict[str, float] = {")
    for name, weight in zip(names, weights, strict=True):
        print(f'    "{name}": {weight:.4f},')
    print("}")


if __name__ == "__main__":
    main()

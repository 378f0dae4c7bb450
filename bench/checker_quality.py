"""Precision and recall of the outgoing-message checker on the labelled dev files.

    python bench/checker_quality.py [--data DIR] [--limit N]

DIR defaults to $CRISIS_EVAL_DATA, else ../shared/data relative to the repository root; the
files are read at run time and never copied. Per file AND per source, two decisions of the
checker (`block` only; `block` or `warn`) next to the same-run baseline: the scoring engine's
own offensive decision (`score_batch(...).offensive`). DEV numbers: the weight thresholds were
chosen looking at these files, so they overstate held-out quality.

- offensive_en / offensive_pl: a text counts as flagged when the checker finds offensive
  language, an insult or mockery (the categories about the words, not PII or layout).
- tone_en: flagged on any tone finding (offensive, insult, mocking, blaming, aggressive,
  sarcasm, shouting). These are requests between Wikipedia editors, not brand replies.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scoring_quality import binary_metrics, by_source, fmt, load, pct  # noqa: E402

from communications.checker import BLOCK, ENGINE_VERSION, Finding, check_texts  # noqa: E402
from monitoring.scoring import score_batch, warm  # noqa: E402

WORDS = {"offensive_language", "insult", "mocking"}
TONE = WORDS | {"blaming_customer", "aggressive_tone", "sarcasm", "shouting"}
FILES = (
    ("offensive_en.dev.jsonl", "offensive", WORDS),
    ("offensive_pl.dev.jsonl", "offensive", WORDS),
    ("tone_en.dev.jsonl", "impolite", TONE),
)


def decide(findings: Sequence[Finding], categories: set[str], blocking_only: bool) -> bool:
    return any(
        f.category in categories and (f.severity == BLOCK or not blocking_only) for f in findings
    )


def table(
    name: str,
    rows: list[dict[str, str]],
    gold: list[bool],
    decisions: dict[str, list[bool]],
) -> None:
    print(f"\n### {name}\n")
    print("| source | rows | decision | F1 | P | R | macro-F1 | false flags on clean |")
    print("|---|---|---|---|---|---|---|---|")
    groups: list[tuple[str, list[int]]] = sorted(by_source(rows).items())
    if len(groups) > 1:
        groups.append(("(pooled)", list(range(len(rows)))))
    for source, idx in groups:
        for label, pred in decisions.items():
            m = binary_metrics([gold[i] for i in idx], [pred[i] for i in idx])
            print(
                f"| {source} | {len(idx):,} | {label} | {fmt(m['f1'])} | {fmt(m['p'])} | "
                f"{fmt(m['r'])} | {fmt(m['macro_f1'])} | {pct(m['ff'])} |"
            )


def run(path: Path, positive: str, categories: set[str], limit: int | None) -> None:
    rows = load(path, limit)
    gold = [row["label"] == positive for row in rows]
    started = time.perf_counter()
    findings = [
        check_texts([("body", row["text"])], language=row["lang"], public=True) for row in rows
    ]
    seconds = time.perf_counter() - started
    engine = score_batch([row["text"] for row in rows], language_hints=[r["lang"] for r in rows])
    decisions: dict[str, list[bool]] = {
        "baseline: scoring engine `offensive`": [s.offensive for s in engine],
        "checker: block": [decide(f, categories, True) for f in findings],
        "checker: block or warn": [decide(f, categories, False) for f in findings],
    }
    table(path.name, rows, gold, decisions)
    print(
        f"\nchecker: {len(rows) / seconds:,.0f} texts/s ({seconds * 1e6 / len(rows):.0f} µs each)"
    )


def main() -> None:
    default = os.environ.get("CRISIS_EVAL_DATA") or str(ROOT.parent / "shared" / "data")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=default, help="directory of the *.dev.jsonl files")
    parser.add_argument("--limit", type=int, default=None, help="first N rows of each file")
    args = parser.parse_args()
    warm()
    print(f"# Content checker quality (dev), engine {ENGINE_VERSION}")
    for filename, positive, categories in FILES:
        path = Path(args.data) / filename
        if not path.exists():
            print(f"\n{filename}: not found in {args.data}; skipped")
            continue
        run(path, positive, categories, args.limit)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The pattern miner on Loghub-2k: grouping accuracy (GA), template accuracy (PA) and speed.

    python3 bench/patterns.py --loginsight ~/.cache/lrel/target/release/loginsight

1. Accuracy: each dataset of ../shared/loghub-2k goes through `loginsight patterns` (one
   message per line, the dataset's `Content` field, as `score_patterns.py` sends it). GA and
   PA are computed by the shared `loghub_eval.py` against the corrected ground truth: GA, a
   line counts when its predicted group holds exactly its true group's lines; PA, a line
   counts when its template equals the true template (named masks and `<*>` alike, whitespace
   runs as one space).
2. The rotating split: the eight are cut into two halves of four (A, B) that are used in turn
   to tune and to check. Both halves' averages are printed, so a change tuned on one half is
   judged on the other. `--min-ga` (all eight) and `--min-heldout` (either half) are floors:
   below one, the exit status is 1.
3. Speed: the eight datasets' messages, repeated with every digit redrawn (so no two copies
   are the same text) to `--speed-lines` lines, timed through `loginsight patterns FILE`
   (reading, mining and writing the CSV), as lines/s on one core.
"""

import argparse
import csv
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "loghub-2k"
sys.path.insert(0, str(DATA))
import loghub_eval as ev  # noqa: E402

# Each half mixes kinds of system (distributed storage, compute, OS, application).
HALVES = {
    "A": ["HDFS", "Spark", "Linux", "Proxifier"],
    "B": ["Hadoop", "BGL", "Apache", "Mac"],
}


def contents(name):
    import json
    settings = json.load(open(DATA / "settings.json"))["datasets"][name]
    lines = ev.extract_contents(str(DATA / settings["log_file"]), settings["log_format"])
    return [c if c is not None else "" for c in lines]


def mine(binary, lines):
    out = subprocess.run([binary, "patterns"], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout
    groups, templates = {}, {}
    for row in csv.DictReader(io.StringIO(out)):
        groups[int(row["line"])] = row["pattern_id"]
        templates[int(row["line"])] = row["template"]
    return groups, templates


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loginsight", required=True)
    p.add_argument("--speed-lines", type=int, default=1_000_000)
    p.add_argument("--min-ga", type=float, default=0.0, help="lowest GA average of all eight")
    p.add_argument("--min-heldout", type=float, default=0.0, help="lowest GA average of either half")
    a = p.parse_args()

    results, everything = {}, []
    print("| dataset | half | GA | PA | groups (truth) |")
    print("|---|---|---:|---:|---:|")
    for half, names in HALVES.items():
        for name in names:
            lines = contents(name)
            everything += lines
            groups, templates = mine(a.loginsight, lines)
            gt = DATA / name / ev.GT_FILES["corrected"].format(d=name)
            r = ev.score(str(gt), groups, templates)
            results[name] = r
            print(f"| {name} | {half} | {r['GA']:.4f} | {r['PA']:.4f} | {r['pred_groups']} ({r['gt_groups']}) |",
                  flush=True)
    averages = {}
    for half, names in HALVES.items():
        ga = sum(results[n]["GA"] for n in names) / len(names)
        pa = sum(results[n]["PA"] for n in names) / len(names)
        averages[half] = ga
        print(f"half {half} ({', '.join(names)}): GA {ga:.4f}, PA {pa:.4f}")
    ga = sum(r["GA"] for r in results.values()) / len(results)
    pa = sum(r["PA"] for r in results.values()) / len(results)
    print(f"all eight: GA {ga:.4f}, PA {pa:.4f}")

    if a.speed_lines:
        rng = random.Random(5)
        digits = "0123456789"
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            n = 0
            while n < a.speed_lines:
                for line in everything:
                    f.write("".join(rng.choice(digits) if c.isdigit() else c for c in line) + "\n")
                    n += 1
                    if n == a.speed_lines:
                        break
            path = f.name
        size = os.path.getsize(path)
        t = time.perf_counter()
        subprocess.run([a.loginsight, "patterns", path], stdout=subprocess.DEVNULL, check=True)
        elapsed = time.perf_counter() - t
        os.unlink(path)
        print(f"speed: {n:,} Loghub-style lines ({size / 1e6:.0f} MB) in {elapsed:.2f} s: "
              f"{n / elapsed:,.0f} lines/s on one core (reading, mining, writing CSV)")

    low = min(averages.values())
    if ga < a.min_ga or low < a.min_heldout:
        print(f"below the floor: GA {ga:.4f} (floor {a.min_ga}), lowest half {low:.4f} (floor {a.min_heldout})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

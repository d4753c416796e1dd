"""Summarise py-spy's collapsed stacks: the functions with the most samples, self and total.

python bench/profile_top.py PROFILE.txt [--top 30] [--filter emulator]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--filter", default="", help="only frames whose text contains this")
    args = parser.parse_args()
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in args.path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].split("/")[-1] + ")"
            for f in stack.split(";")
        ]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    print(f"{samples} samples")
    for title, counter in (("self", own), ("total", total)):
        print(f"\n-- {title} --")
        rows = [(k, v) for k, v in counter.most_common() if args.filter in k][: args.top]
        for frame, count in rows:
            print(f"{100 * count / samples:6.1f}%  {frame}")


if __name__ == "__main__":
    main()

"""Sum the pytest summary lines of the runs `make test` logged into one closing line.

Usage: python scripts/test_summary.py LOG [LOG …]  →  "total: N passed, N failed, N skipped"
(each MPI run's line is rank 0's; the runs are serial, MPI on 2, 3 and 4 ranks).
"""

from __future__ import annotations

import re
import sys


def main(paths: list[str]) -> int:
    totals = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    for path in paths:
        with open(path, errors="replace") as fh:
            lines = [ln for ln in fh if re.search(r"\d+ (passed|failed)", ln) and " in " in ln]
        if not lines:
            print(f"test_summary: no pytest summary line in {path}", file=sys.stderr)
            return 1
        for count, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", lines[-1]):
            totals["error" if word.startswith("error") else word] += int(count)
    failed = totals["failed"] + totals["error"]
    print(f"total: {totals['passed']} passed, {failed} failed, {totals['skipped']} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

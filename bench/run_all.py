"""`make bench`: every benchmark, one after the other, with its default sizes.

Embedded figures need nothing else; scale-out ones expect PostgreSQL and Redis on their
standard local ports (as on the development machines and in CI).
"""

from __future__ import annotations

import subprocess
import sys

COMMANDS = [
    ["bench.parse_submit"],
    ["bench.submit_load", "embedded"],
    ["bench.submit_load", "scale-out"],
    ["bench.pipeline", "sqlite"],
    ["bench.pipeline", "postgresql"],
    ["bench.locate_load", "postgresql"],
    ["bench.locate_load", "sqlite"],
    ["bench.locate_accuracy"],
    ["bench.ndt7"],
    ["bench.tiles", "--cells", "1000000"],
    ["bench.cell_import", "postgresql", "--rows", "2000000"],
    ["bench.cell_import", "sqlite", "--rows", "2000000"],
    ["bench.export_fanout", "postgresql", "--observations", "1000000"],
    ["bench.mlab_import", "1000000", "sqlite"],
    ["bench.mlab_import", "1000000", "postgresql"],
    ["bench.aggregate", "1000000", "sqlite"],
    ["bench.aggregate", "1000000", "postgresql"],
    ["bench.dump", "accuracy", "--world", "H1,H2,H3"],
    ["bench.dump", "build", "--stations", "200000"],
]


def main() -> None:
    for command in COMMANDS:
        print("$ python -m " + " ".join(command), flush=True)
        subprocess.run([sys.executable, "-m", *command], check=True)


if __name__ == "__main__":
    main()

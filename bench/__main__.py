"""`make bench`: runs every benchmark module and prints one table of figure, value, target."""

from __future__ import annotations

import importlib
import sys
import time

from bench.figures import Figure, print_table

MODULES = ["bench.backbone", "bench.gallery_filters", "bench.big_export", "bench.thumbnails", "bench.labelling",
           "bench.client", "bench.box_tools",
           "bench.import_phases", "bench.datasets",  # the phases first: bench.datasets removes the file after it
           "bench.preannotate", "bench.onnx_model", "bench.unity_catalog", "bench.table_sources", "bench.scan_listing",
           "bench.security",
           "bench.label_model", "bench.label_api_model", "bench.budget", "bench.hostile_imports", "bench.sdk",
           "bench.workers", "bench.project_sweeps", "bench.quality", "bench.consensus", "bench.spark_prelabel",
           "bench.spark_export"]


def machine_speed() -> float:
    """Seconds for a plain Python loop of 10 million additions: this machine's single-core speed varies by 2x
    from hour to hour, so every table carries the reading taken before and after it."""
    t0 = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    wanted = [m for m in MODULES if not argv or any(a in m for a in argv)]
    before = machine_speed()
    figures: list[Figure] = []
    for name in wanted:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures += importlib.import_module(name).run()
    figures += [Figure("machine speed: 10M-addition Python loop, before the run (reported)", before * 1000, "ms", 0,
                       higher_is_better=True),
                Figure("... and after it (reported)", machine_speed() * 1000, "ms", 0, higher_is_better=True)]
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

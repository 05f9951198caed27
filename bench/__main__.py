"""`make bench`: runs every benchmark module and prints one table of figure, value, target."""

from __future__ import annotations

import importlib
import sys

from bench.figures import Figure, print_table

MODULES = ["bench.backbone", "bench.thumbnails", "bench.labelling", "bench.client", "bench.datasets",
           "bench.preannotate", "bench.onnx_model", "bench.unity_catalog", "bench.security"]


def main(argv: list[str]) -> int:
    wanted = [m for m in MODULES if not argv or any(a in m for a in argv)]
    figures: list[Figure] = []
    for name in wanted:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures += importlib.import_module(name).run()
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The one local Spark of a test run (two cores, no UI, small shuffles), started on first use: a JVM and its Python
workers take seconds to start, so every Spark test shares it (the `spark` fixture in conftest.py). Its Python
workers import this checkout's packages, not an installed copy."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def local_spark() -> Any:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # its Python workers: this virtualenv's interpreter
    return (SparkSession.builder.master("local[2]").appName("cv-explorer-tests")
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2").config("spark.default.parallelism", "2")
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .config("spark.executorEnv.PYTHONPATH", f"{ROOT}:{ROOT / 'sdk'}")
            .getOrCreate())

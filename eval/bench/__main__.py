"""``python -m eval.bench``: the benchmarks, or one of their workers (``--worker``)."""

from __future__ import annotations

from eval.bench import main

main()

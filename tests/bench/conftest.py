"""The benchmark's modules import each other by bare name (they run as ``python bench/x.py``),
so their tests put ``bench/`` on the path the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

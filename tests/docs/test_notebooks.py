"""The variant notebooks run from top to bottom without an error, and are committed without outputs.

Each notebook is executed with nbclient in a fresh kernel whose interpreter is pinned to the one running
the tests (``sys.executable``): the ``python3`` kernelspec found on disk may start whatever ``python`` is
first on PATH (ipykernel's bundled spec says just ``python``), which in a virtual environment that is
not activated is a different interpreter without this package. The working directory is
``notebooks/``, as when a reader opens them in Jupyter, and the repository root is put first on the
kernel's PYTHONPATH, so the notebooks run against this working tree even where the editable install
is stale or absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402  (after the skips)
from jupyter_client.manager import KernelManager  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["mae_vit_base.ipynb", "mae_vit_large.ipynb", "mae_vit_huge.ipynb"]
CELL_TIMEOUT_S = 600  # a hang guard, not a speed goal (speed lives in benchmarks/)


class ThisInterpreter(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel on ``sys.executable``."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python 3 ({sys.executable})",
            language="python",
            resource_dir=str(NOTEBOOKS),
        )


def test_the_notebooks_are_the_three_variants():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} cell {i} has outputs: strip them (make_notebooks.py)"
            assert cell.execution_count is None, f"{name} cell {i} has an execution count"


def test_notebooks_are_generated_from_the_template():
    result = subprocess.run([sys.executable, str(NOTEBOOKS / "make_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_errors(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute(env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])})
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{name}: a cell raised\n{exc}")
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "a code cell did not run"
    text = "".join(out.get("text", "") for c in code_cells for out in c.outputs if out.output_type == "stream")
    assert "the models agree" in text, "the reference comparison did not run (is timm or transformers installed?)"
    images = [out for c in code_cells for out in c.outputs if "image/png" in out.get("data", {})]
    assert len(images) == 2, "the reconstruction or the attention picture was not displayed"
    assert "every row sums to 1: True" in text, "the recorder section did not run"

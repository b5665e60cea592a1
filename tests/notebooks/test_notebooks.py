"""Every notebook in notebooks/ runs top to bottom on a small world, and is committed clean.

Each notebook is executed with nbclient in the venv's ``python3`` kernel, cwd ``notebooks/``,
with the environment built by :func:`notebook_env`: ``CUSTOMS_RISK_DATA`` points at the shared
small generated world (``small_world`` of tests/conftest.py), ``CUSTOMS_RISK_MLFLOW_URI`` at the
private MLflow store of the shared training run (``trained``), ``CUSTOMS_RISK_TRAIN_DIR`` at that
run's output folder (read by ``02_models.ipynb`` and ``03_policy.ipynb``), and ``MPLBACKEND=Agg``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def notebook_env(small_world: Path, trained) -> dict[str, str]:
    """Environment variables every notebook runs with (fixtures of tests/conftest.py).

    ``trained`` is read-only: the notebooks read its registry, runs and output folder and move
    no alias.
    """
    return {
        "CUSTOMS_RISK_DATA": str(small_world),
        "CUSTOMS_RISK_MLFLOW_URI": trained.settings.uri,
        "CUSTOMS_RISK_TRAIN_DIR": str(trained.out),
        "MPLBACKEND": "Agg",
    }


def test_kernel_is_this_venv() -> None:
    """``python3`` resolves to the interpreter running the tests (the venv's), not another."""
    from jupyter_client.manager import KernelManager

    command = KernelManager(kernel_name=KERNEL).format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), command


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, notebook_env: dict[str, str]) -> None:
    """The notebook executes without an error in any cell (nbclient raises CellExecutionError)."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # the kernel's cwd
    )
    client.execute(env={**os.environ, **notebook_env})


def _dirty_cells(notebook: nbformat.NotebookNode) -> list[str]:
    """Descriptions of the code cells that carry outputs or an execution count."""
    dirty = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            dirty.append(f"cell {index}: {len(cell['outputs'])} outputs")
        if cell.get("execution_count") is not None:
            dirty.append(f"cell {index}: execution_count {cell['execution_count']}")
    return dirty


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert _dirty_cells(notebook) == [], f"{path.name}: clear outputs before committing"


def test_dirty_notebook_is_detected() -> None:
    """The check above fails on a notebook with an output or an execution count."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    clean = new_notebook(cells=[new_code_cell("1 + 1")])
    assert _dirty_cells(clean) == []
    counted = new_notebook(cells=[new_code_cell("1 + 1", execution_count=3)])
    assert _dirty_cells(counted) == ["cell 0: execution_count 3"]
    output = new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    with_output = new_notebook(cells=[new_code_cell("1 + 1", outputs=[output])])
    assert _dirty_cells(with_output) == ["cell 0: 1 outputs"]

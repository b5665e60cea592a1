"""Every notebook in notebooks/ runs top to bottom on a small world, and is committed clean.

Each notebook is executed with nbclient in the venv's ``python3`` kernel, cwd ``notebooks/``,
with the environment built by :func:`notebook_env`: ``CUSTOMS_RISK_DATA`` points at a small
generated world and ``MPLBACKEND=Agg``. Notebooks that read more (e.g. ``02_models.ipynb`` and
``CUSTOMS_RISK_MLFLOW_URI``) get it by adding the variable there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

from customs_risk.data.generator import generate_world, write_world
from customs_risk.data.world_config import WorldConfig

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 300
WORLD_ROWS = 20_000
WORLD_SEED = 1


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated world (default parameters) written once for all notebooks."""
    folder = tmp_path_factory.mktemp("world")
    write_world(generate_world(WorldConfig(), WORLD_ROWS, seed=WORLD_SEED), folder)
    return folder


@pytest.fixture(scope="module")
def notebook_env(small_world: Path) -> dict[str, str]:
    """Environment variables every notebook runs with.

    The place for what later notebooks need: e.g. a fixture with an MLflow store adds
    ``CUSTOMS_RISK_MLFLOW_URI`` here for 02_models.ipynb / 03_policy.ipynb.
    """
    return {"CUSTOMS_RISK_DATA": str(small_world), "MPLBACKEND": "Agg"}


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

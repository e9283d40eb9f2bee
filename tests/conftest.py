"""Shared test helpers: where the offline data bundle is; a one-thread fixture; a fresh model cache."""
import os
from pathlib import Path

import pytest

# $SALIENCY_DATA if set, else the bundle beside the project (<project>/../shared/data).
BUNDLE = Path(os.environ.get("SALIENCY_DATA")
              or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def bundle() -> Path:
    """Path of the offline data bundle; skips the test when it is absent."""
    if not (BUNDLE / "MANIFEST.tsv").is_file():
        pytest.skip(f"offline data bundle not found at {BUNDLE}")
    return BUNDLE


@pytest.fixture
def one_thread():
    """Run the test with one torch thread (restored afterwards): tiny networks gain nothing
    from more, and one thread keeps them fast when another process keeps the cores busy."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def benchmark_script():
    """Load a script of ``benchmarks/`` as a module: ``benchmark_script("run_benchmarks")``
    (the scripts are not a package; their own folder is on ``sys.path`` only when run)."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, root / "benchmarks" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory, bundle):
    """A fresh ``$SALIENCY_CACHE`` for one test module (trained models and training data go
    there, not into the project's cache); needs the bundle. Yields the folder."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("cache")
    mp.setenv("SALIENCY_CACHE", str(folder))
    yield folder
    mp.undo()

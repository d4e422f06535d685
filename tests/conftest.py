import os

# Tests run on the CPU, deterministically, with the default single device (multi-device tests spawn subprocesses).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_xdist_auto_num_workers(config):
    """``pytest -n auto``: one worker per core, at most 4. Each worker is a JAX process compiling its own train
    steps (a few GB at peak for the image-to-image models), so more would trade memory for little time."""
    return max(1, min(4, os.cpu_count() or 1))

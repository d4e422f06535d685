import os

# Tests run on the CPU, deterministically, with the default single device (multi-device tests spawn subprocesses).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite's time is mostly XLA compiling tiny train steps, and most of that is LLVM optimising the generated code.
# Without those passes a step compiles ~1.8x faster (bicyclegan's contract test 89 -> 50 s); the tiny shapes run
# barely slower, as convolutions and matrix products call precompiled kernels either way (the whole suite: 34 -> 22
# minutes on the 2-core reference CPU). Subprocesses inherit it, but for the multi-device tests, which set XLA_FLAGS
# themselves: their 1-vs-N-device tolerance holds for XLA's default optimisation, whose summation order they keep.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


def pytest_xdist_auto_num_workers(config):
    """``pytest -n auto``: one worker per core, at most 4. Each worker is a JAX process compiling its own train
    steps (a few GB at peak for the image-to-image models), so more would trade memory for little time."""
    return max(1, min(4, os.cpu_count() or 1))

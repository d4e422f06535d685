import os
import shutil

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
# Many tests compile the same program (a model's init and step at the same tiny config, in the contract test and in
# the engine, CLI and checkpoint tests; the xdist workers each compile their own). JAX's persistent compilation
# cache compiles each once per run: entries are keyed by the program, the compile options and XLA_FLAGS, so a hit is
# the executable XLA would have built. It lives in .pytest_cache/ (git-ignored), so a later local run starts warm;
# past CACHE_LIMIT bytes (old programs pile up as the code changes) a run starts it afresh.
CACHE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "jax")
CACHE_LIMIT = 1 << 30
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", CACHE_DIR)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")


def pytest_configure(config):
    if hasattr(config, "workerinput") or os.environ["JAX_COMPILATION_CACHE_DIR"] != CACHE_DIR:
        return  # an xdist worker (the controller already checked), or a cache the user chose
    if not os.path.isdir(CACHE_DIR):
        return
    size = sum(e.stat().st_size for e in os.scandir(CACHE_DIR) if e.is_file())
    if size > CACHE_LIMIT:
        shutil.rmtree(CACHE_DIR, ignore_errors=True)


def pytest_xdist_auto_num_workers(config):
    """``pytest -n auto``: one worker per core, at most 4. Each worker is a JAX process compiling its own train
    steps (a few GB at peak for the image-to-image models), so more would trade memory for little time."""
    return max(1, min(4, os.cpu_count() or 1))


def pytest_xdist_make_scheduler(config, log):
    """``pytest -n``: whole test files to one worker. The model test files cache a trained tiny state per model
    (``trained(model)``) that many of their tests read; spread test by test, every worker trained its own. xdist's
    "load" is what ``-n`` alone gives; another ``--dist`` given on the command line is left as it is."""
    if config.getvalue("dist") == "load":
        from xdist.scheduler import LoadFileScheduling
        return LoadFileScheduling(config, log)
    return None

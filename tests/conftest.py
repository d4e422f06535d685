import os

# Tests run on the CPU, deterministically, with the default single device (multi-device tests spawn subprocesses).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

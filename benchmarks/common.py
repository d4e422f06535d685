"""What the benchmarks share: a model's default batch from its own data, and markdown tables."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
import typing

import jax
import numpy as np

from gan_jax import cli, data, engine
from gan_jax.train import loader_batch_size

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def default_loader(model, config, seed: int = 0, split: str = "train") -> data.Loader:
    """The loader ``python -m gan_jax.train --model NAME`` would build (offline data, default sizes)."""
    source = data.load(getattr(model, "DEFAULT_DATASET", "mnist"), getattr(model, "DATA", "images"),
                       img_size=config.img_size, channels=config.channels, split=split, config=config)
    return data.Loader(source, loader_batch_size(model, config), seed=seed, prefetch=0)


def names(parser: argparse.ArgumentParser, text: str, allowed, what: str = "models") -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; a name outside ``allowed`` is a usage error naming the choices."""
    found = [n for n in text.split(",") if n]
    unknown = sorted(set(found) - set(allowed))
    if unknown:
        parser.error(f"unknown {what} {unknown}: choose from {', '.join(allowed)}")
    return found


def shown(overrides: dict) -> str:
    """Config overrides as a table cell: ``{"lr": 0.001, "b1": 0.9}`` -> ``"lr=0.001, b1=0.9"``."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items())


def tag(name: str, overrides: dict, seed: int = 0) -> str:
    """A variant's file and run name: ``bgan``, ``bgan-lr=0.0001``, ``bgan-lr=0.0001-seed=1`` (seed 0 unnamed)."""
    return name + "".join(f"-{k}={v}" for k, v in overrides.items()) + (f"-seed={seed}" if seed else "")


def config_overrides(config_cls, text: str) -> dict:
    """``"arch=paper,lr=0.001"`` -> ``{"arch": "paper", "lr": 0.001}``, each value converted to the Config field's
    type; an unknown key or a bad value is a clear error."""
    hints = typing.get_type_hints(config_cls)
    overrides = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in hints:
            raise SystemExit(f"--set: {item!r} is not KEY=VALUE with KEY a field of {config_cls.__module__}.Config "
                             f"({', '.join(hints)})")
        kind = hints[key]
        try:
            overrides[key] = cli.parse_value(kind)(value)  # as train's --KEY VALUE reads it
        except (ValueError, argparse.ArgumentTypeError):
            raise SystemExit(f"--set: {key} needs a {getattr(kind, '__name__', kind)}, got {value!r}") from None
    try:
        cli.validate(config_cls(**overrides))
    except ValueError as e:
        raise SystemExit(f"--set: {e}") from None
    return overrides


def fit(model, config, loader, steps: int, run_name: str, grid_name: str, *, max_minutes: float | None = None,
        hooks=(), log_interval: int = 50, seed: int = 0):
    """Train as ``python -m gan_jax.train`` does (engine.fit, ``--seed`` 0, a fresh run directory benchmarks/out/runs/RUN)
    for ``steps`` steps, or until ``max_minutes`` of training (compile included) have passed, whichever comes first;
    copies the final sample grid to benchmarks/out/grids/GRID.png. Returns (state, steps done, wall seconds)."""
    run_dir = os.path.join(OUT, "runs", run_name)
    shutil.rmtree(run_dir, ignore_errors=True)
    options = engine.RunOptions(steps=steps, seed=seed, sample_interval=steps, checkpoint_interval=steps,
                                log_interval=log_interval, progress=False, tensorboard=False,
                                max_seconds=None if max_minutes is None else max_minutes * 60)
    t = time.perf_counter()
    state = engine.fit(model, config, loader, run_dir, options, hooks=hooks)
    wall = time.perf_counter() - t
    done = int(jax.device_get(state.step))
    grid = os.path.join(OUT, "grids", f"{grid_name}.png")
    os.makedirs(os.path.dirname(grid), exist_ok=True)
    shutil.copy(os.path.join(run_dir, "samples", f"step_{done:06d}.png"), grid)
    return state, done, wall


class Deadline:
    """The wall-clock budget (``--max_minutes``) of a benchmark's own training loop; ``None``: no limit."""

    def __init__(self, max_minutes: float | None):
        self.end = None if max_minutes is None else time.perf_counter() + max_minutes * 60

    def passed(self) -> bool:
        return self.end is not None and time.perf_counter() > self.end


def machine() -> str:
    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    cpu = platform.processor() or platform.machine()
    return f"{dev.platform}: {kind}; host {cpu}, {os.cpu_count()} cores; jax {jax.__version__}"


def table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"  # 4 digits: 29.98 vs 29.53 dB, not 30 vs 29.5
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write(name: str, text: str) -> str:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    return path


def median(xs) -> float:
    return float(np.median(np.asarray(xs)))


MEMORY_COLUMNS = ["remat", "temp_MiB", "peak_MiB", "convs_lowered", "convs_compiled"]


def compiled_memory(model, config, batch: dict) -> dict:
    """One train step of ``model`` compiled for ``config`` and ``batch`` (ShapeDtypeStructs), nothing run: XLA's
    buffer assignment (peak = arguments + outputs + temporaries - aliased) and the convolutions in the program JAX
    lowers and in what XLA compiles (rematerialisation shows as recomputed convolutions)."""
    state = jax.eval_shape(lambda k: model.init(k, config), jax.random.key(0))
    lowered = jax.jit(model.train_step).lower(state, batch, jax.random.key(0))
    compiled = lowered.compile()
    m = compiled.memory_analysis()
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
    return {"remat": getattr(config, "remat", None), "temp_MiB": m.temp_size_in_bytes / 2**20,
            "peak_MiB": total / 2**20, "convs_lowered": lowered.as_text().count("stablehlo.convolution"),
            "convs_compiled": convolutions(compiled.as_text())}


def convolutions(hlo: str) -> int:
    """Convolutions in compiled HLO text: XLA's own (``convolution(``, CPU/TPU) and cuDNN's custom calls (GPU)."""
    return hlo.count("convolution(") + hlo.count('custom_call_target="__cudnn$conv')

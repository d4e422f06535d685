"""The engine: exact resume, checkpoint safety, NaN handling, run-directory checks, multi-device equivalence."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from gan_jax import data, engine
from gan_jax.engine import CheckpointError, NonFiniteError, RunDirError, RunOptions
from gan_jax.models import gan

CONFIG = gan.Config(batch_size=8, img_size=8, latent_dim=4, sample_interval=3)


def source():
    images, labels = data.offline.mnist("train")
    return data.ArraySource(images[:64], labels[:64], img_size=8, channels=1)


def fit(run_dir, steps, resume=False, model=gan, config=CONFIG, seed=0, **kw):
    kw = {"checkpoint_interval": 2, "log_interval": 1, "progress": False, "tensorboard": False, **kw}
    options = RunOptions(steps=steps, seed=seed, sample_interval=config.sample_interval, **kw)
    return engine.fit(model, config, data.Loader(source(), config.batch_size, seed=seed), str(run_dir), options,
                      resume=resume)


def leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state)]


def test_resume_is_bit_identical(tmp_path):
    straight = fit(tmp_path / "a", 6)
    fit(tmp_path / "b", 3)
    resumed = fit(tmp_path / "b", 6, resume=True)
    for x, y in zip(leaves(straight), leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)
    # the metrics log of the resumed run is the same as the straight one's (up to timing fields)
    def losses(run):
        with open(run / "metrics.jsonl") as f:
            return [(r["step"], r["d_loss"], r["g_loss"]) for r in map(json.loads, f)]
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_time_limit_stops_with_checkpoint_and_grid_and_resumes_exactly(tmp_path, monkeypatch):
    import types

    from gan_jax.engine import loop

    clock = [0.0]  # a fake clock (1 ms a reading) that a hook advances by one second per step: a deterministic stop
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(
        perf_counter=lambda: clock.__setitem__(0, clock[0] + 1e-3) or clock[0]))
    tick = engine.Hook(1, lambda step, state: clock.__setitem__(0, clock[0] + 1.0) or {})
    options = RunOptions(steps=6, seed=0, sample_interval=CONFIG.sample_interval, checkpoint_interval=100,
                         log_interval=1, progress=False, tensorboard=False, max_seconds=3.5)
    state = engine.fit(gan, CONFIG, data.Loader(source(), CONFIG.batch_size, seed=0), str(tmp_path / "b"), options,
                       hooks=(tick,))
    assert int(state.step) == 4  # 4 s > 3.5 s after the 4th step
    assert engine.Checkpointer(str(tmp_path / "b" / "checkpoints"), read_only=True).all_steps() == [4]
    assert sorted(os.listdir(tmp_path / "b" / "samples")) == ["step_000003.png", "step_000004.png"]
    monkeypatch.undo()
    resumed = fit(tmp_path / "b", 6, resume=True)
    for x, y in zip(leaves(fit(tmp_path / "a", 6)), leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)


def test_run_directory_contents(tmp_path):
    fit(tmp_path, 6, tensorboard=True)
    assert json.load(open(tmp_path / "config.json"))["config"]["latent_dim"] == 4
    assert sorted(os.listdir(tmp_path / "samples")) == ["step_000003.png", "step_000006.png"]
    steps = engine.Checkpointer(str(tmp_path / "checkpoints"), read_only=True).all_steps()
    assert steps == [2, 4, 6]  # keep-last-3 with a checkpoint every 2 steps
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tensorboard"))
    with open(tmp_path / "metrics.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6] and {"compile_s", "init_s"} <= set(records[0])


def test_keep_last_k(tmp_path):
    fit(tmp_path, 10, keep=2)
    assert engine.Checkpointer(str(tmp_path / "checkpoints"), read_only=True).all_steps() == [8, 10]


def test_refuses_to_overwrite_a_run(tmp_path):
    fit(tmp_path, 2)
    with pytest.raises(RunDirError, match="already holds a run"):
        fit(tmp_path, 4)


def test_resume_errors(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        fit(tmp_path / "empty", 2, resume=True)
    fit(tmp_path / "run", 2)
    from gan_jax.models import gan as other

    class Renamed:  # the same network under another model name
        NAME = "not_gan"
        Config, init, train_step, generate = other.Config, other.init, other.train_step, other.generate

    with pytest.raises(CheckpointError, match="model 'gan', not 'not_gan'"):
        fit(tmp_path / "run", 4, resume=True, model=Renamed)


def test_corrupt_checkpoint_is_reported_and_untouched(tmp_path):
    fit(tmp_path, 2)
    state_dir = tmp_path / "checkpoints" / "2" / "state"
    for root, _, files in os.walk(state_dir):
        for name in files:
            if name.startswith("d") or "ocdbt" in root:
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"garbage")
    snapshot = {p: open(os.path.join(r, p), "rb").read() for r, _, fs in os.walk(tmp_path / "checkpoints") for p in fs}
    with pytest.raises(CheckpointError, match="corrupt"):
        fit(tmp_path, 4, resume=True)
    after = {p: open(os.path.join(r, p), "rb").read() for r, _, fs in os.walk(tmp_path / "checkpoints") for p in fs}
    assert after == snapshot


def test_interrupted_save_keeps_previous_checkpoint(tmp_path):
    # A process killed mid-save leaves orbax's temporary directory behind; the last complete step is still used.
    fit(tmp_path, 2)
    shutil.copytree(tmp_path / "checkpoints" / "2", tmp_path / "checkpoints" / "4.orbax-checkpoint-tmp-1234")
    os.remove(tmp_path / "checkpoints" / "4.orbax-checkpoint-tmp-1234" / "state" / "_METADATA")
    ckpt = engine.Checkpointer(str(tmp_path / "checkpoints"), read_only=True)
    assert ckpt.latest_step() == 2
    state = fit(tmp_path, 4, resume=True)
    assert int(state.step) == 4


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    class Exploding:
        NAME = "gan"
        Config, init, generate = gan.Config, gan.init, gan.generate

        @staticmethod
        def train_step(state, batch, rng):
            state, metrics = gan.train_step(state, batch, rng)
            blown = jax.numpy.where(state.step >= 3, jax.numpy.nan, 1.0)
            return state, {**metrics, "d_loss": metrics["d_loss"] * blown}

    with pytest.raises(NonFiniteError, match="d_loss became NaN/inf at step 3.*Last good checkpoint: step 2"):
        fit(tmp_path, 6, model=Exploding)
    assert engine.Checkpointer(str(tmp_path / "checkpoints"), read_only=True).all_steps() == [2]


def test_unwritable_run_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RunDirError, match="cannot write"):
        fit(blocker / "run", 2)


MULTI_DEVICE = textwrap.dedent("""
    import jax, numpy as np
    from gan_jax import engine
    from gan_jax.models import gan
    assert len(jax.devices()) == 8, jax.devices()
    config = gan.Config(batch_size=16, img_size=8, latent_dim=4)
    rng = np.random.default_rng(0)
    batches = [{"image": rng.uniform(-1, 1, (16, 8, 8, 1)).astype(np.float32)} for _ in range(3)]
    results = []
    for n in (1, 8):
        mesh = engine.make_mesh(n)
        init_key, step_key, _ = engine.run_keys(0)
        state = engine.loop.init_state(gan, config, init_key, mesh)
        step = engine.compile_step(gan, mesh)
        for b in batches:
            state, metrics = step(state, engine.shard_batch(b, mesh), step_key)
        if n == 8:  # the state really is replicated over 8 devices and the batch was split over them
            assert len(state.g.params["Dense_0"]["Dense_0"]["kernel"].sharding.device_set) == 8
        results.append([np.asarray(x) for x in jax.tree.leaves(state)])
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(*results))
    print("max abs diff", worst)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
""")


@pytest.mark.slow
def test_same_parameters_on_1_and_8_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=env, capture_output=True, text=True, timeout=600,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "max abs diff" in out.stdout

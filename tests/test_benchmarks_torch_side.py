"""benchmarks/torch_side_by_side.py (runs under a torch interpreter, not tested with torch here) and its hand-off
to benchmarks.speed: the parts that need no torch."""

import json
import os
import sys

import jax
import jax.numpy as jnp
import pytest

from benchmarks import speed, torch_side_by_side as side


def test_needs_torch_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(SystemExit, match="needs torch"):
        side.main(["--pytorch_gan", str(tmp_path), "--models", "gan"])


def test_unknown_model_is_named_before_anything_runs(tmp_path):
    with pytest.raises(SystemExit, match="unknown model.*nosuchgan.*known: gan"):
        side.main(["--pytorch_gan", str(tmp_path), "--models", "dcgan,nosuchgan"])


def test_every_model_has_a_batch_layout():
    from gan_jax import registry

    assert set(side.BATCHES) == set(registry.names())


def test_default_iterations_are_whole_critic_cycles():
    assert side.default_iters("gan", 2) == 60
    assert side.default_iters("dcgan", 2) == 12
    assert side.default_iters("esrgan", 2) == 6
    for name in ("wgan", "dualgan", "stargan"):
        n = side.default_iters(name, 2) - 2
        assert n % side.N_CRITIC[name] == 0 and n >= 3 * side.N_CRITIC[name]


def test_copies_get_the_minimal_fixes(tmp_path):
    folder = tmp_path / "implementations" / "bgan"
    folder.mkdir(parents=True)
    (folder / "bgan.py").write_text("for i, (imgs, _) in enumerate(mnist_loader):\n    print(len(mnist_loader))\n")
    work, fixes = side.prepare_copy(str(tmp_path), "bgan")
    text = open(os.path.join(work, "bgan.py")).read()
    assert "mnist_loader" not in text and "enumerate(dataloader)" in text
    assert fixes == ["mnist_loader -> dataloader"]
    assert (folder / "bgan.py").read_text().count("mnist_loader") == 2  # the checkout itself is untouched
    with pytest.raises(SystemExit, match="PyTorch-GAN checkout"):
        side.prepare_copy(str(tmp_path), "dcgan")


def test_speed_reads_the_torch_results(tmp_path):
    path = tmp_path / "torch.json"
    path.write_text(json.dumps({"torch": "2.13.0", "threads": 2,
                                "results": {"gan": {"mean_ms": 15.0, "min_ms": 12.0}, "bgan": {"error": "x"}}}))
    loaded = speed.load_torch_side(str(path))
    assert loaded["gan"]["mean_ms"] == 15.0 and "error" in loaded["bgan"]
    assert speed.load_torch_side(None) == {}


def test_speed_counts_a_steps_arithmetic():
    step = jax.jit(lambda state, batch, key: (state @ batch["x"], jnp.tanh(state)))
    state, batch = jnp.ones((8, 16)), {"x": jnp.ones((16, 32))}
    assert speed.step_gflop(step, state, batch, jax.random.key(0)) * 1e9 == pytest.approx(2 * 8 * 16 * 32, rel=0.1)
    assert 1 < speed.matmul_gflops(repeats=1, n=256) < 1e5  # GFLOP/s of a real product: positive and finite


def test_asked_iterations_are_rounded_up_to_whole_critic_cycles():
    assert side.iterations("stargan", 1, 4) == 6 and side.iterations("dualgan", 1, 12) == 16  # n_critic 5
    assert side.iterations("dcgan", 1, 4) == 4 and side.iterations("esrgan", 2, None) == side.default_iters("esrgan", 2)

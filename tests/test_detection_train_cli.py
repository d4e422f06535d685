"""``python -m detection.train`` on gan_jax.engine: a tiny run, exact resume, the Python API on the same step, bad
flags, and data parallelism on fake devices."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from detection import data, darknet, model, train

TINY = ["--n_train", "8", "--batch_size", "2", "--img_size", "64", "--width", "0.125", "--max_boxes", "4",
        "--eval_images", "2", "--eval_interval", "0", "--no_progress", "--lr_steps", "3", "--burn_in", "2",
        "--checkpoint_interval", "2", "--log_interval", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 4-step run, and one stopped at step 2 then resumed to 4. Each run jits a fresh closure of
    the step; the suite's persistent compilation cache (tests/conftest.py) compiles the identical program once."""
    d = tmp_path_factory.mktemp("runs")
    whole, split = str(d / "whole"), str(d / "split")
    assert train.main(TINY + ["--steps", "4", "--out", whole]) == 0
    assert train.main(TINY + ["--steps", "2", "--out", split]) == 0
    assert train.main(["--resume", "--steps", "4", "--out", split, "--no_progress"]) == 0
    return whole, split


def _metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_run_directory_metrics_and_darknet_export(runs):
    whole, _ = runs
    assert {"config.json", "metrics.jsonl", "checkpoints", "results.json", "yolov3-tiny.weights",
            "yolov3-tiny.cfg"} <= set(os.listdir(whole))
    rows = _metrics(whole)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    np.testing.assert_allclose([r["lr"] for r in rows], [0.0, 2e-3 * 0.5 ** 4, 2e-3, 2e-4], rtol=1e-6)  # burn-in, drop
    assert 0.0 <= rows[-1]["val_mAP50"] <= 1.0  # the held-out mAP hook ran at the end
    results = json.load(open(os.path.join(whole, "results.json")))
    assert results["steps"] == 4 and results["val_images"] == 2
    config = json.load(open(os.path.join(whole, "config.json")))
    assert config["data"]["dataset"] == "offline" and config["config"]["masks"] == [[3, 4, 5], [0, 1, 2]]
    network = darknet.read_cfg(os.path.join(whole, "yolov3-tiny.cfg"))  # k-means anchors written into the cfg
    assert network.n_classes == 13 and network.yolo_layers[0].anchors == tuple(map(tuple, config["config"]["anchors"]))
    darknet.load_weights(os.path.join(whole, "yolov3-tiny.weights"), network)


def test_resume_is_bit_identical_to_an_uninterrupted_run(runs):
    whole, split = runs
    with open(os.path.join(whole, "yolov3-tiny.weights"), "rb") as a, \
            open(os.path.join(split, "yolov3-tiny.weights"), "rb") as b:
        assert a.read() == b.read()  # every parameter and BN statistic, bit for bit
    # (timings differ; the held-out mAP also ran where the first session ended)
    drop = lambda rows: [{k: v for k, v in r.items() if k not in ("images_per_s", "compile_s", "init_s")  # noqa: E731
                          and not k.startswith("val_")} for r in rows]
    assert drop(_metrics(split)) == drop(_metrics(whole))


def test_python_api_takes_the_same_steps(runs):
    whole, _ = runs
    from gan_jax.engine import config_from_dict

    saved = json.load(open(os.path.join(whole, "config.json")))
    config = config_from_dict(model.Config, saved["config"])
    # the CLI renders its offline training images with up to --offline_objects (default 8) objects
    dataset = data.OfflineDetection("train", n=8, max_objects=saved["data"]["offline_objects"])
    state = train.train(config, dataset, steps=4, seed=0, log_every=4)
    network = darknet.read_cfg(os.path.join(whole, "yolov3-tiny.cfg"))
    cli_vars = darknet.load_weights(os.path.join(whole, "yolov3-tiny.weights"), network)
    ours = jax.device_get(state.variables)
    for a, b in zip(jax.tree.leaves(cli_vars), jax.tree.leaves(ours)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "--steps must be > 0"),
    (["--img_size", "100"], "not divisible by 32"),
    (["--anchors", "10,14,23"], "6 positive"),
    (["--masks", "3,4,5"], "two lists"),
    (["--dataset", "no/such/folder"], "unknown dataset"),
    (["--lr", "-1"], "lr must be > 0"),
    (["--resume"], "nothing to resume"),
])
def test_bad_flags_are_one_line_errors(tmp_path, capsys, argv, message):
    assert train.main(argv + ["--out", str(tmp_path / "run"), "--n_train", "8", "--no_progress"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_existing_run_needs_resume_and_keeps_its_config(runs, capsys):
    whole, _ = runs
    assert train.main(TINY + ["--steps", "4", "--out", whole]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert train.main(["--resume", "--out", whole, "--lr", "0.01"]) == 1
    assert "differs from the resumed run's" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.build_parser().parse_args(["--model", "yolov5"])


MULTI_DEVICE = """
import jax, numpy as np
from detection import data, model, train
config = model.Config(n_classes=13, img_size=64, batch_size=4, max_boxes=4, width=0.125, burn_in=1, lr=1e-3,
                      optimizer="adam", bn_momentum=0.9)
ds = data.OfflineDetection("train", size=64, n=8)
one = jax.device_get(train.train(config, ds, steps=2, devices=1, log_every=2).variables)
four = jax.device_get(train.train(config, ds, steps=2, devices=4, log_every=2).variables)
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four)))
scale = max(float(np.max(np.abs(a))) for a in jax.tree.leaves(one))
print("max abs diff", diff, "scale", scale)
assert diff <= 1e-4 * scale, diff
"""


@pytest.mark.slow
def test_same_parameters_on_1_and_4_devices():
    """The engine's data parallelism on the detectors: the global batch split over 4 fake CPU devices (BatchNorm
    statistics global) gives the parameters of 1 device, up to the order of float sums."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=env, capture_output=True, text=True, timeout=600,
                         cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "max abs diff" in out.stdout

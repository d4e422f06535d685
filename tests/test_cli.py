"""The command line as a user runs it: train, resume, sample, Ctrl-C, and every bad input with its message."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gan_jax import evaluate, sample, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--model", "gan", "--batch_size", "8", "--img_size", "8", "--latent_dim", "4", "--no_progress",
        "--checkpoint_interval", "2", "--sample_interval", "2", "--log_interval", "1"]


def run_cli(args, **kw):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **kw.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "gan_jax.train", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600, **kw)


def test_train_resume_sample_end_to_end(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train.main([*TINY, "--steps", "4", "--out", out]) == 0
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["2", "4"]
    assert train.main([*TINY, "--steps", "6", "--out", out, "--resume"]) == 0
    assert "6" in os.listdir(os.path.join(out, "checkpoints"))
    with open(os.path.join(out, "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [1, 2, 3, 4, 5, 6]
    png = str(tmp_path / "grid.png")
    assert sample.main(["--run", out, "--n", "9", "--out", png]) == 0
    from PIL import Image

    assert Image.open(png).size == (3 * 10 + 2, 3 * 10 + 2)  # 3x3 grid of 8 px images, 2 px padding
    assert evaluate.main(["--run", out, "--n", "40"]) == 0
    with open(os.path.join(out, "eval", "step_000006.json")) as f:
        result = json.load(f)
    assert result["n_fake"] == 40 and result["n_real"] == 40 and result["fd"] > 0 and 0 <= result["recall"] <= 1
    assert len(result["digit_shares"]) == 10 and abs(sum(result["digit_shares"]) - 1) < 1e-3
    assert 0 <= result["classes"] <= 10 and result["class_kl"] >= 0
    assert evaluate.main(["--run", str(tmp_path / "nothing")]) == 1
    assert "not a run directory" in capsys.readouterr().err


def test_progress_says_what_happens_before_the_first_step(tmp_path, capsys):
    out = str(tmp_path / "run")
    shown = [a for a in TINY if a != "--no_progress"]
    assert train.main([*shown, "--steps", "2", "--out", out]) == 0
    err = capsys.readouterr().err
    assert "gan: initialising the state and compiling the first step" in err and "restoring" not in err
    assert train.main([*shown, "--steps", "3", "--out", out, "--resume"]) == 0
    assert "gan: restoring the state and compiling the first step" in capsys.readouterr().err
    with open(os.path.join(out, "metrics.jsonl")) as f:
        first = json.loads(f.readline())
    assert first["init_s"] > 0 and first["compile_s"] > 0


def test_list_and_unknown_model(capsys):
    assert train.main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert "began" in listing and "wgan_gp" in listing
    assert train.main(["--model", "begna"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'begna'" in err and "did you mean 'began'" in err and "relativistic_gan" in err


@pytest.mark.parametrize("flags, message", [
    (["--lr", "-0.1"], "--lr must be > 0, got -0.1"),
    (["--b1", "1.5"], "--b1 must be in [0, 1)"),
    (["--batch_size", "0"], "--batch_size must be > 0"),
    (["--steps", "-3"], "--steps must be > 0"),
    (["--max_minutes", "0"], "--max_minutes must be > 0"),
    (["--devices", "3"], "--devices 3: this machine has 1 cpu device(s)"),
    (["--dataset", "tfds:mnist", "--data_dir", "/nonexistent/tfds"], "not prepared"),
    (["--dataset", "/nonexistent/folder"], "does not exist"),
    (["--resume", "--out", "/nonexistent/run"], "nothing to resume"),
])
def test_bad_values_fail_with_a_clear_message(flags, message, capsys, tmp_path):
    args = [*TINY, "--steps", "2", *flags]
    if "--out" not in flags:
        args += ["--out", str(tmp_path / "run")]
    assert train.main(args) == 1
    assert message in capsys.readouterr().err


def test_wrong_type_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--model", "gan", "--lr", "fast"])
    assert exit_info.value.code == 2
    assert "--lr: invalid float value: 'fast'" in capsys.readouterr().err


def test_unwritable_out_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert train.main([*TINY, "--steps", "2", "--out", str(blocker / "run")]) == 1
    assert "cannot write to run directory" in capsys.readouterr().err


def test_resume_refuses_another_models_run_and_changed_flags(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train.main([*TINY, "--steps", "2", "--out", out]) == 0
    args = [a if a != "gan" else "bgan" for a in TINY]
    assert train.main([*args, "--steps", "4", "--out", out, "--resume"]) == 1
    assert "holds a run of model 'gan', not 'bgan'" in capsys.readouterr().err
    assert train.main([*TINY, "--lr", "0.1", "--steps", "4", "--out", out, "--resume"]) == 1
    assert "--lr 0.1 differs from the resumed run's 0.0002" in capsys.readouterr().err


def test_batch_not_divisible_by_devices():
    proc = run_cli([*TINY, "--batch_size", "12", "--steps", "1", "--out", "/tmp/unused-run"],
                   env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
    assert proc.returncode == 1
    assert "--batch_size 12 is not divisible by the 8 devices in use" in proc.stderr


def test_ctrl_c_leaves_a_resumable_checkpoint(tmp_path):
    out = str(tmp_path / "run")
    args = [*TINY, "--steps", "100000", "--checkpoint_interval", "100000", "--out", out]
    proc = subprocess.Popen([sys.executable, "-m", "gan_jax.train", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and not (os.path.exists(metrics) and os.path.getsize(metrics) > 200):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "stopped at step" in err
    steps = [int(s) for s in os.listdir(os.path.join(out, "checkpoints")) if s.isdigit()]
    assert len(steps) == 1 and steps[0] > 1
    assert train.main([*TINY, "--steps", str(steps[0] + 2), "--out", out, "--resume"]) == 0
    assert str(steps[0] + 2) in os.listdir(os.path.join(out, "checkpoints"))


def test_eval_interval_logs_fd_and_digits(tmp_path):
    out = str(tmp_path / "run")
    assert train.main([*TINY, "--steps", "4", "--out", out, "--eval_interval", "2", "--eval_n", "20"]) == 0
    with open(os.path.join(out, "metrics.jsonl")) as f:
        rows = {r["step"]: r for r in map(json.loads, f)}
    scored = sorted(s for s, r in rows.items() if "fd" in r)
    assert scored == [2, 4]
    assert all(rows[s]["fd"] > 0 and 0 <= rows[s]["classes"] <= 10 and rows[s]["class_kl"] >= 0 for s in scored)
    assert "fd" not in rows[1] and "fd" not in rows[3]


def test_eval_interval_bad_input(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train.main([*TINY, "--out", out, "--eval_interval", "0"]) == 1
    assert "--eval_interval must be > 0" in capsys.readouterr().err
    assert train.main([*TINY, "--out", out, "--eval_interval", "2", "--eval_n", "5"]) == 1
    assert "--eval_n must be >= 10" in capsys.readouterr().err
    assert train.main(["--model", "pix2pix", "--out", out, "--eval_interval", "2", "--no_progress"]) == 1
    err = capsys.readouterr().err
    assert "pix2pix does not generate images from noise" in err and "paired" in err
    assert not os.path.exists(os.path.join(out, "config.json"))  # refused before anything was written


def test_run_main_turns_user_errors_into_one_line_and_a_status(capsys):
    from gan_jax import cli

    assert cli.run_main(lambda: 3) == 3
    assert cli.run_main(lambda: {"loss": 1.0}) == 0  # a tool's run() may return its results: success
    for exc, status, message in [(ValueError("--lr must be > 0"), 1, "error: --lr must be > 0"),
                                 (FileNotFoundError("no checkpoint in /x"), 1, "error: no checkpoint in /x"),
                                 (FloatingPointError("loss is nan at step 7"), 1, "error: loss is nan at step 7"),
                                 (KeyboardInterrupt(), 130, "aborted")]:
        def fail(exc=exc):
            raise exc

        assert cli.run_main(fail) == status
        assert capsys.readouterr().err.strip() == message
    with pytest.raises(KeyError):  # not a user error: a bug keeps its traceback
        cli.run_main(lambda: {}["missing"])


def test_saved_run_refuses_a_missing_config_and_another_models_run(tmp_path):
    from gan_jax.engine import CheckpointError
    from gan_jax.runs import saved_run

    with pytest.raises(CheckpointError, match="is not a run directory"):
        saved_run(str(tmp_path))
    with pytest.raises(CheckpointError, match="nothing to resume: .* has no config.json"):
        saved_run(str(tmp_path), "nothing to resume: {} has no config.json")
    (tmp_path / "config.json").write_text(json.dumps({"model": "gan", "config": {}}))
    assert saved_run(str(tmp_path), model="gan")["model"] == "gan"
    with pytest.raises(CheckpointError, match="holds a run of 'gan', not 'textcnn'"):
        saved_run(str(tmp_path), model="textcnn")  # e.g. python -m textcls.predict --run <a GAN run>

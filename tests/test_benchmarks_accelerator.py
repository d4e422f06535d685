"""benchmarks.accelerator: the job list it would run, and its refusals (running it needs an accelerator)."""

import pytest

from benchmarks import accelerator


def test_dry_run_prints_one_time_limited_command_per_job(capsys):
    assert accelerator.main(["--jobs", "lsgan,stargan", "--max_minutes", "2", "--dry_run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert "-m benchmarks.quality --models lsgan" in lines[0] and "--out gpu_quality_lsgan.md" in lines[0]
    assert "-m benchmarks.multimodal --preset full --models stargan" in lines[1]
    assert all(line.endswith(f"--max_minutes 2.0 --out {name}") for line, name in
               zip(lines, ("gpu_quality_lsgan.md", "gpu_multimodal_stargan.md")))


def test_environment_allocates_on_demand_without_command_buffers():
    env = accelerator.environment()
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" and "--xla_gpu_enable_command_buffer=" in env["XLA_FLAGS"]


@pytest.mark.parametrize("argv, message", [(["--jobs", "lsgan,nosuch"], "unknown jobs ['nosuch']"),
                                           (["--parallel", "0"], "must be > 0")])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        accelerator.main(argv)
    assert message in capsys.readouterr().err

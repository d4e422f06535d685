"""The README's promises: its quickstart is what CI runs, and its Python example runs as printed."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def test_quickstart_is_what_ci_runs():
    assert 'pip install -e . && python -m gan_jax.train --model began\npip install -e ".[test]" && pytest' in README
    (test_command,) = re.findall(r'^pip install -e "\.\[test\]" && (pytest.*)$', README, re.M)
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert "pip install --quiet -e .\n" in ci and 'pip install --quiet -e ".[test]"' in ci
    (ci_command,) = [line for line in ci.splitlines() if line.startswith("pytest")]
    assert ci_command.split()[:len(test_command.split())] == test_command.split()  # README's, plus quiet flags


def test_python_example_runs(capsys):
    (code,) = re.findall(r"```python\n(.*?)```", README, re.S)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert int(namespace["state"].step) == 200
    assert namespace["samples"].shape == (16, 28, 28, 1)
    assert "d_loss" in capsys.readouterr().out


def test_every_model_is_in_the_table():
    from gan_jax import registry

    for name in registry.names():
        assert f"| {name} |" in README, f"README's model table lacks {name}"

"""The README's promises: its quickstart is what CI runs, and its Python example runs as printed."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def test_quickstart_is_what_ci_runs():
    assert 'pip install -e . && python -m gan_jax.train --model began\npip install -e ".[test]" && pytest' in README
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert "pip install --quiet -e .\n" in ci and 'pip install --quiet -e ".[test]"' in ci and "pytest" in ci


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

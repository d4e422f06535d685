"""benchmarks/common.py's pieces that need no training: Config overrides (``--set``) and the conditional table's
reading of per-variant results."""

import json

import pytest

from benchmarks import common, conditional
from gan_jax.models import cluster_gan, infogan


def test_config_overrides_convert_to_the_field_types():
    assert common.config_overrides(infogan.Config, "arch=paper,lr=0.001,batch_size=128") == {
        "arch": "paper", "lr": 0.001, "batch_size": 128}
    assert common.config_overrides(cluster_gan.Config, "wass_flag=true") == {"wass_flag": True}
    assert common.config_overrides(infogan.Config, "") == {}


@pytest.mark.parametrize("text, message", [
    ("arch", "'arch' is not KEY=VALUE"),
    ("colour=red", "'colour=red' is not KEY=VALUE with KEY a field of gan_jax.models.infogan.Config"),
    ("lr=fast", "lr needs a float, got 'fast'"),
    ("wass_flag=ture", "wass_flag needs a bool, got 'ture'"),  # not silently False
    ("arch=dcgan", "--arch must be one of script, paper"),
    ("lr=-1", "--lr must be > 0"),
])
def test_bad_overrides_are_named(text, message):
    config_cls = cluster_gan.Config if text.startswith("wass_flag") else infogan.Config
    with pytest.raises(SystemExit, match=message):
        common.config_overrides(config_cls, text)


def test_conditional_table_keeps_variants_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(conditional, "RESULTS", str(tmp_path))
    for stem, model in (("cgan", "cgan"), ("acgan", "acgan"), ("infogan", "infogan"),
                        ("infogan-arch=paper", "infogan arch=paper")):
        (tmp_path / f"{stem}.json").write_text(json.dumps({"model": model, "steps": 1}))
    models = [line.split("|")[1].strip() for line in conditional.report().splitlines() if line.startswith("| ")]
    assert models[1:] == ["cgan", "acgan", "infogan", "infogan arch=paper"]  # the plain run first, then its variants

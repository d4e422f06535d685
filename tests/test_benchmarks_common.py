"""benchmarks/common.py's pieces that need no training: Config overrides (``--set``) and the conditional table's
reading of per-variant results."""

import json

import jax
import numpy as np
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


def test_cluster_scores_by_hand():
    # clusters {0: labels 3, 3}, {1: labels 3, 5, 5}: each cluster's majority covers 2 of its points -> 4 / 5
    assert conditional.cluster_scores(np.array([0, 0, 1, 1, 1]), np.array([3, 3, 3, 5, 5]))["purity"] == 0.8
    # a relabelled perfect clustering scores 1 on all three
    assert conditional.cluster_scores(np.array([1, 1, 0]), np.array([4, 4, 7])) == pytest.approx(
        {"purity": 1.0, "nmi": 1.0, "ari": 1.0})


def test_curve_metric_along_the_way():
    assert conditional.curve_metric("cgan", None, None) is None  # no cheap metric: no hook
    config = cluster_gan.Config()
    state = cluster_gan.init(jax.random.key(0), config)
    metric, measure = conditional.curve_metric("cluster_gan", cluster_gan, config)
    images, labels = conditional.digits(config, "test")
    assert metric == "purity" and len(images) == len(labels) == 500
    clusters = np.asarray(cluster_gan.cluster(state, images))
    assert measure(state) == conditional.cluster_scores(clusters, labels)["purity"]

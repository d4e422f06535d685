"""fpga.schedule and fpga.dse: the layer-group schedule of yolov3-tiny, the models' calibration against the paper's
measured design point, the BRAM block rule, the sweep/Pareto/choice and the CLI."""

import numpy as np
import pytest

from detection import darknet
from fpga import dse
from fpga import schedule as S

NET = darknet.builtin_cfg("yolov3-tiny")
ZYNQ = dse.DEVICES["xc7z020"]


def test_schedule_of_yolov3_tiny():
    groups = S.build(NET, (416, 416))
    assert len(groups) == 14  # the paper: about 14 layer groups
    assert [(g.conv, g.post) for g in groups[:6]] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, None), (None, 9)]
    assert groups[10].post_kind == "yolo" and groups[11].post_kind == "upsample"
    g12 = groups[7]  # conv 12: 13x13, 512 -> 1024, 3x3
    assert g12.conv == 12 and len({p.out_lo for p in g12.passes}) == 1024 // 32
    assert all(p.c <= 4 * (512 // 9) for p in g12.passes) and sum(p.c for p in g12.passes if p.out_lo == 0) == 512
    assert [p.first for p in g12.passes[:3]] == [True, False, False] and g12.passes[2].last
    place = S.placements(NET, groups)
    # route 20 = concat(19, 8) costs nothing: both are written into one buffer at their channel offsets
    assert place[19] == S.Placement(place[20].buffer, 0, 384) and place[8] == S.Placement(place[20].buffer, 128, 384)
    assert groups[0].c_in == 4  # RGB padded to one beat


def test_bram_block_rule():
    assert dse.bram18k(512, 36) == 1 and dse.bram18k(1024, 18) == 1 and dse.bram18k(513, 36) == 2
    assert dse.bram18k(1664, 64) == 8 and dse.bram18k(4096, 16) == 4 and dse.bram18k(16, 8) == 1


def test_calibrated_to_the_paper():
    """N_max=32, P_mem=8: the paper's models give ~184 BRAM18K and 160 DSP; it measured 532 ms per 416x416 frame."""
    res = dse.resources(dse.Design(n_max=32, p_mem=8))
    assert abs(res["bram18k"] - 184) <= 2 and res["dsp"] == 160
    assert abs(res["lut"] - 25_900) < 2_600 and abs(res["ff"] - 46_700) < 4_700
    lat = dse.latency(NET, dse.Design(n_max=32, p_mem=8), (416, 416))
    assert abs(lat["ms"] - 532) / 532 < 0.10
    assert lat["gmac"] == pytest.approx(2.78, abs=0.01)
    assert len(lat["groups"]) == 14


def test_model_trends():
    lat = lambda **kw: dse.latency(NET, dse.Design(**kw), (416, 416))["ms"]  # noqa: E731
    assert lat(n_max=16) > lat(n_max=32) > lat(n_max=64)
    assert lat(p_mem=1) > lat(p_mem=8)  # the accumulation lanes limit layer 0 (16 channels per 9-cycle pixel)
    assert dse.resources(dse.Design(n_max=64))["dsp"] > dse.resources(dse.Design(n_max=32))["dsp"]
    small = dse.latency(NET, dse.Design(), (128, 128))["ms"]
    assert small < lat()


def test_over_budget_names_resource_and_amount():
    with pytest.raises(dse.DesignError, match=r"DSP48E 320 > 220 \(over by 100, 45%\)"):
        dse.check_fits(dse.Design(n_max=64, p_mem=16), ZYNQ)
    with pytest.raises(dse.DesignError, match=r"BRAM18K [\d,]+ > 280"):
        dse.check_fits(dse.Design(n_max=64, p_mem=16), ZYNQ)
    assert dse.check_fits(dse.Design(), ZYNQ)["dsp"] == 160
    with pytest.raises(ValueError, match="multiple of 4"):
        dse.Design(n_max=30)
    with pytest.raises(S.ScheduleError, match="line buffer"):
        dse.latency(NET, dse.Design(lb_depth=64), (416, 416))


def test_sweep_pareto_and_choice():
    points = dse.sweep(NET, ZYNQ, (416, 416), n_values=(8, 16, 32, 48, 64), p_values=(1, 8))
    front = dse.pareto(dse.feasible(points, ZYNQ))
    chosen = dse.choose(points, ZYNQ)
    assert not dse.over_budget(chosen.res, ZYNQ) and chosen in front
    assert all(p.ms >= chosen.ms for p in dse.feasible(points, ZYNQ))
    assert any(dse.over_budget(p.res, ZYNQ) for p in points)
    for a in front:  # nothing on the front is dominated
        assert not any(all(x <= y for x, y in zip(b.key, a.key)) and b.key != a.key for b in front)
    big = dse.DEVICES["xc7z045"]
    assert dse.choose(points, big).ms < chosen.ms  # more room, a faster point


def test_cli(tmp_path, capsys):
    out = dse.main(["--n-max", "32", "--p-mem", "8"])
    text = capsys.readouterr().out
    assert "BRAM18K 184 / 280" in text and "DSP 160 / 220" in text and "fits" in text
    assert abs(out["ms"] - 532) / 532 < 0.1
    dse.main(["--n-max", "64", "--p-mem", "16"])
    assert "does NOT fit: BRAM18K 310 > 280 (over by 30, 11%); DSP48E 320 > 220" in capsys.readouterr().out
    plot = tmp_path / "dse.png"
    res = dse.main(["--plot", str(plot)])
    assert plot.stat().st_size > 1000 and "chosen" in capsys.readouterr().out
    assert np.isfinite(res["chosen"].ms)

"""The training recipe runner of examples/train_reference_models.py, on two tiny stages (seconds)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "train_reference_models.py"
MASK_PATH = "p2,r3,proto,coef_out"
ASSETS = Path(__file__).resolve().parents[2] / "sdk" / "assets"


@pytest.fixture()
def script(monkeypatch):
    spec = importlib.util.spec_from_file_location("train_reference_models", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "train_reference_models", module)  # frame-making workers pickle its functions
    spec.loader.exec_module(module)
    tiny = "--frames 2 --steps 2 --batch 2 --crop 64 64 --max-objects 6 --workers 1"
    masks_only = ("--frames 2 --steps 2 --batch 2 --crop 96 96 --max-objects 60 --objects-power 0.2 --workers 1 "
                  f"--seed 3 --train-only {MASK_PATH} --hidden-mask-weight 3")  # crowded crops: parts in each batch
    monkeypatch.setitem(module.RECIPES, "parts-inst",
                        (tiny, f"{tiny} --seed 2 --iou-aware --radius 1.0 --bf16 --amodal-box", masks_only))
    return module


def test_recipe_runs_each_stage_on_the_last_and_resumes(script, tmp_path, capsys):
    parser = script.build_parser()
    args = script.finish_args(parser.parse_args(["parts-inst", "--recipe", "--work", str(tmp_path), "--threads", "1"]))
    model = script.run_recipe(args, parser)
    stages = sorted(p.name for p in tmp_path.iterdir())
    assert stages == ["parts-inst-stage1.pt", "parts-inst-stage2.pt", "parts-inst-stage3.pt"]
    out = capsys.readouterr().out
    assert f"fine-tuning from {tmp_path / 'parts-inst-stage1.pt'}" in out
    # Stage 3 trains only the mask path: every other weight and BatchNorm statistic stays as stage 2 left it.
    before, final = torch.load(tmp_path / "parts-inst-stage2.pt"), torch.load(tmp_path / "parts-inst-stage3.pt")
    mask_path = tuple(MASK_PATH.split(","))
    moved = {k for k in final if not torch.equal(final[k], before[k])}
    assert moved and all(k.split(".")[0] in mask_path for k in moved)
    assert any(k.startswith("proto.") for k in moved) and any(k.startswith("p2.") and "running_mean" in k for k in moved)
    assert all(torch.equal(final[k], v) for k, v in model.state_dict().items())
    assert all(v.is_contiguous() for v in final.values())  # bf16 trains channels-last; weights come back plain
    # A second run finds both stages done and trains nothing.
    again = script.run_recipe(args, parser)
    out = capsys.readouterr().out
    assert out.count("exists, skipped") == 3 and "training frames" not in out
    assert all(torch.equal(again.state_dict()[k], v) for k, v in final.items())


@pytest.mark.parametrize("seed", range(8))
def test_random_crop_carries_boxes_with_the_pixels(script, seed):
    import numpy as np

    image = np.zeros((10, 12), bool)
    image[3:7, 2:5] = True
    box = np.array([[2.0, 3, 5, 7]], np.float32)
    plain = script.random_crop(np.random.default_rng(seed), [image], (6, 8))
    crop, moved = script.random_crop(np.random.default_rng(seed), [image], (6, 8), box)
    np.testing.assert_array_equal(crop, plain[0])  # boxes draw nothing more from the generator
    ys, xs = np.nonzero(crop)
    x0, y0, x1, y1 = moved[0]
    assert x1 - x0 == 3 and y1 - y0 == 4  # the box moves and flips; it is not clipped to the crop
    if len(xs):  # what the crop shows of the square lies in the box, and touches its sides inside the crop
        assert xs.min() == max(x0, 0) and xs.max() + 1 == min(x1, 8)
        assert ys.min() == max(y0, 0) and ys.max() + 1 == min(y1, 6)


def test_train_only_names_real_modules(script):
    from edgeseg.convert import reference_models as rm

    net = rm.PartsInstNet(3, nm=8)
    with pytest.raises(SystemExit, match="no module \\['protos'\\]"):
        script.freeze_all_but(net, "proto,protos")
    assert script.freeze_all_but(net, None) == [net] and all(p.requires_grad for p in net.parameters())
    trained = script.freeze_all_but(net, "proto,coef_out")
    assert trained == [net.coef_out, net.proto]
    assert {n.split(".")[0] for n, p in net.named_parameters() if p.requires_grad} == {"proto", "coef_out"}


def test_fp32_overrides_the_bf16_of_every_recipe_stage(script, tmp_path, capsys, monkeypatch):
    """On a CPU without native bfloat16 (emulated there, about 10x slower) --fp32 trains each stage in float32."""
    parser = script.build_parser()
    assert script.finish_args(parser.parse_args(["parts-inst", "--bf16", "--fp32"])).bf16 is False
    one_step = script.finish_args(parser.parse_args(
        ["parts-inst", "--bf16", "--frames", "1", "--steps", "1", "--batch", "1", "--crop", "64", "64",
         "--max-objects", "3", "--workers", "1", "--threads", "1"]))
    for native, warned in ((True, False), (False, True)):
        monkeypatch.setattr(script, "native_bf16", lambda native=native: native)
        script.train(one_step)
        assert ("add --fp32" in capsys.readouterr().out) is warned
    monkeypatch.setitem(script.RECIPES, "parts-inst", script.RECIPES["parts-inst"][:2])
    seen = []
    monkeypatch.setattr(script, "train", lambda a: seen.append(a.bf16) or script.rm.PartsInstNet(3, nm=16))
    args = script.finish_args(parser.parse_args(["parts-inst", "--recipe", "--fp32", "--work", str(tmp_path)]))
    script.run_recipe(args, parser)
    assert seen == [False, False]  # both stages say --bf16 in RECIPES


@pytest.mark.parametrize("name", ["parts-seg", "parts-inst"])
def test_eval_only_scores_the_shipped_model_on_held_out_frames(script, name, capsys):
    assert script.main([name, "--eval-only", "--out", str(ASSETS), "--eval-frames", "2", "--eval-crowded", "1",
                        "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "held-out frames (seed 9999): " + ("2 frames" if name == "parts-seg" else "4 frames") in out
    assert ("mIoU" if name == "parts-seg" else "mask AP50") in out


def test_no_held_out_frames_skips_the_check(script, capsys):
    assert script.main(["parts-inst", "--eval-only", "--out", str(ASSETS), "--eval-frames", "0",
                        "--eval-crowded", "0"]) == 0
    assert "no held-out check" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main(["parts-inst", "--eval-only", "--out", str(ASSETS), "--eval-frames", "-1"])


def test_mining_adds_the_frames_the_init_weights_miscount(script, capsys):
    import numpy as np

    import edgeseg
    from edgeseg.bench.scenes import make_scene

    weights = Path(__file__).resolve().parents[2] / "converters" / "weights" / "parts-inst.pt"
    argv = ["parts-inst", "--init", str(weights), "--mine", "12", "--mine-seed", "3", "--max-objects", "60",
            "--overlap-rate", "0.4", "--frames", "2", "--steps", "1", "--batch", "2", "--crop", "64", "64",
            "--workers", "1", "--threads", "1"]
    args = script.finish_args(script.build_parser().parse_args(argv))
    # The shipped ONNX file is these weights exported at the shipped operating point: it counts as the miner does.
    wrong = []
    with edgeseg.load("parts-inst", threads=1) as model:
        for k in range(12):
            job = (3, k, 60, args.defect_rate, 0.4, 1.0, None)
            opts, seed = script.frame_options(*job)
            scene = make_scene(opts, seed=seed)
            shown = scene.truth.visible_fraction
            if not np.sum(shown >= opts.min_visible_fraction) <= len(model(scene.image)) <= len(shown):
                wrong.append(job)
    assert 0 < len(wrong) < 12  # the seed is picked so that some frames are counted right and some wrong
    mined = script.mine_frames(args)
    assert f"counts {len(wrong)} of 12 frames with at most 60 parts wrong" in capsys.readouterr().out
    for got, want in zip(mined, (script._inst_frame(job) for job in wrong), strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
    script.train(args)
    assert f"{len(wrong) + 2} training frames" in capsys.readouterr().out


def test_mining_needs_its_seed_and_weights(script):
    args = script.finish_args(script.build_parser().parse_args(["parts-inst", "--mine", "4"]))
    with pytest.raises(SystemExit, match="--mine-seed"):
        script.mine_frames(args)

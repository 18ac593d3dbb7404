import json
import subprocess
import sys

import pytest

from edgeseg.cli.main import main
from edgeseg.errors import InputError


def test_info_text_and_json(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "edgeseg.load would use" in out and ".onnx" in out
    assert main(["info", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["default_backends"][".onnx"] == "onnxruntime"
    assert "CPUExecutionProvider" in doc["devices"]["onnxruntime"]


@pytest.mark.parametrize("command", [[], ["info"], ["inspect"], ["run"], ["demo"]])
def test_help_for_every_command(command):
    out = subprocess.run([sys.executable, "-m", "edgeseg.cli.main", *command, "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0
    assert "usage: edgeseg" in out.stdout


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.onnx")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "nope.onnx"), str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_inspect_every_format(tiny_instance_split, capsys):
    for path in (tiny_instance_split.onnx, tiny_instance_split.openvino, tiny_instance_split.tflite):
        assert main(["inspect", str(path)]) == 0
        out = capsys.readouterr().out
        assert "decoder yolo-seg" in out and "coefficients=coefficients" in out and "bolt, nut" in out
    assert main(["inspect", str(tiny_instance_split.onnx), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["spec"]["num_mask_coeffs"] == 4 and doc["inputs"][0]["shape"] == [1, 3, 64, 64]


def _write_inputs(folder):
    import cv2
    import numpy as np

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"img{i}.png"), rng.integers(0, 256, (80, 120, 3), dtype=np.uint8))
    video = folder.parent / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (120, 80))
    for _ in range(4):
        writer.write(rng.integers(0, 256, (80, 120, 3), dtype=np.uint8))
    writer.release()
    return video


def test_run_images_folder_and_video(tiny_instance_split, tmp_path, capsys):
    video = _write_inputs(tmp_path / "imgs")
    out = tmp_path / "out"
    rc = main(["run", str(tiny_instance_split.onnx), str(tmp_path / "imgs"), str(video), "--out", str(out),
               "--quiet"])
    assert rc == 0
    assert "7 frames" in capsys.readouterr().out
    for i in range(3):
        doc = json.loads((out / f"img{i}.json").read_text())
        assert doc["count"] == 5 and (out / f"img{i}.overlay.png").stat().st_size > 0
    coco = json.loads((out / "coco_results.json").read_text())
    assert len(coco) == 15 and {a["image_id"] for a in coco} == {0, 1, 2}
    lines = (out / "clip.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["frame"] == 0
    assert (out / "clip.overlay.mp4").stat().st_size > 0


def test_run_reports_unreadable_images_and_keeps_going(tiny_semantic, tmp_path, capsys):
    folder = tmp_path / "imgs"
    _write_inputs(folder)
    (folder / "broken.png").write_bytes(b"not a png")
    rc = main(["run", str(tiny_semantic.onnx), str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "broken.png: cannot read this image" in captured.err and "3 frames" in captured.out
    assert json.loads((tmp_path / "out" / "img0.json").read_text())["task"] == "semantic"


def test_decode_flags_override_the_models_own_options(tiny_instance_split, capsys):
    import argparse

    from edgeseg.cli.commands import add_decode_options, decode_options
    from edgeseg.spec import DecodeDefaults
    from tests.tiny_models import make_spec

    p = argparse.ArgumentParser()
    add_decode_options(p)
    spec = make_spec(tiny_instance_split.ref).replace(
        decode_defaults=DecodeDefaults(conf=0.3, iou=0.6, cross_class_mask_iou=0.4))
    assert decode_options(spec, p.parse_args([])).cross_class_mask_iou == 0.4
    opts = decode_options(spec, p.parse_args(["--cross-class-mask-iou", "0.2", "--conf", "0.5"]))
    assert (opts.cross_class_mask_iou, opts.conf, opts.iou) == (0.2, 0.5, 0.6)
    assert decode_options(spec, p.parse_args(["--cross-class-mask-iou", "off"])).cross_class_mask_iou is None
    opts = decode_options(spec, p.parse_args(["--mask-iou", "0.5", "--sure-iou", "0.65"]))
    assert (opts.mask_iou, opts.sure_iou, opts.cross_class_mask_iou) == (0.5, 0.65, 0.4)
    assert decode_options(spec.replace(decode_defaults=DecodeDefaults(mask_iou=0.5, sure_iou=0.6)),
                          p.parse_args(["--sure-iou", "off"])).sure_iou is None
    same = spec.replace(decode_defaults=DecodeDefaults(mask_iou=0.5, sure_iou=0.6, sure_same_class=True))
    assert decode_options(same, p.parse_args([])).sure_same_class
    assert not decode_options(same, p.parse_args(["--no-sure-same-class"])).sure_same_class
    assert decode_options(spec, p.parse_args(["--sure-same-class"])).sure_same_class
    rescuing = spec.replace(decode_defaults=DecodeDefaults(conf=0.4, claim_share=0.2, rescue_conf=0.03))
    opts = decode_options(rescuing, p.parse_args([]))
    assert (opts.claim_share, opts.rescue_conf) == (0.2, 0.03)
    opts = decode_options(rescuing, p.parse_args(["--claim-share", "off"]))  # no rescue without the claim test
    assert (opts.claim_share, opts.rescue_conf) == (None, None)
    opts = decode_options(rescuing, p.parse_args(["--claim-share", "0.3", "--rescue-conf", "0.1"]))
    assert (opts.claim_share, opts.rescue_conf) == (0.3, 0.1)
    assert decode_options(rescuing, p.parse_args(["--rescue-conf", "off"])).rescue_conf is None
    assert decode_options(rescuing, p.parse_args(["--conf", "0.9"])).rescue_conf is None  # --conf means what it says
    opts = decode_options(spec, p.parse_args(["--claim-share", "0.2", "--rescue-conf", "0.1"]))  # none in the spec
    assert (opts.claim_share, opts.rescue_conf, opts.conf) == (0.2, 0.1, 0.3)
    with pytest.raises(InputError, match="needs claim_share"):
        decode_options(rescuing, p.parse_args(["--claim-share", "off", "--rescue-conf", "0.1"]))
    assert decode_options(rescuing, p.parse_args(["--conf", "0.9", "--rescue-conf", "0.1"])).rescue_conf == 0.1
    with pytest.raises(InputError, match="rescue_conf"):
        decode_options(rescuing, p.parse_args(["--rescue-conf", "0.5"]))  # above the model's conf 0.4
    for bad in ("1.5", "some"):
        with pytest.raises(SystemExit):
            p.parse_args(["--cross-class-mask-iou", bad])
    assert "expected a number in 0..1 or 'off'" in capsys.readouterr().err

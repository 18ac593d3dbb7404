"""The training recipe runner of examples/train_reference_models.py, on two tiny stages (seconds)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "train_reference_models.py"


@pytest.fixture()
def script(monkeypatch):
    spec = importlib.util.spec_from_file_location("train_reference_models", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "train_reference_models", module)  # frame-making workers pickle its functions
    spec.loader.exec_module(module)
    tiny = "--frames 2 --steps 2 --batch 2 --crop 64 64 --max-objects 6 --workers 1"
    monkeypatch.setitem(module.RECIPES, "parts-inst", (tiny, f"{tiny} --seed 2 --iou-aware --radius 1.0 --bf16"))
    return module


def test_recipe_runs_each_stage_on_the_last_and_resumes(script, tmp_path, capsys):
    parser = script.build_parser()
    args = script.finish_args(parser.parse_args(["parts-inst", "--recipe", "--work", str(tmp_path), "--threads", "1"]))
    model = script.run_recipe(args, parser)
    stages = sorted(p.name for p in tmp_path.iterdir())
    assert stages == ["parts-inst-stage1.pt", "parts-inst-stage2.pt"]
    out = capsys.readouterr().out
    assert f"fine-tuning from {tmp_path / 'parts-inst-stage1.pt'}" in out
    final = torch.load(tmp_path / "parts-inst-stage2.pt")
    assert all(torch.equal(final[k], v) for k, v in model.state_dict().items())
    assert all(v.is_contiguous() for v in final.values())  # bf16 trains channels-last; weights come back plain
    # A second run finds both stages done and trains nothing.
    again = script.run_recipe(args, parser)
    out = capsys.readouterr().out
    assert out.count("exists, skipped") == 2 and "training frames" not in out
    assert all(torch.equal(again.state_dict()[k], v) for k, v in final.items())

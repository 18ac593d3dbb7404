import json
import subprocess
import sys

import pytest

from edgeseg.cli.main import main


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

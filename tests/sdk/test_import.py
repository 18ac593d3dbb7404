import subprocess
import sys

HEAVY = ("onnxruntime", "openvino", "ai_edge_litert", "tflite_runtime", "torch", "tensorflow")


def test_import_edgeseg_loads_no_backend_torch_or_tensorflow():
    code = ("import edgeseg, edgeseg.decode, edgeseg.results, edgeseg.backends, sys; "
            f"print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

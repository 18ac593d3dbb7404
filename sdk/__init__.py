"""edgeseg: run segmentation models on edge devices.

    import edgeseg
    with edgeseg.load("model.onnx") as seg:
        result = seg(frame)          # frame: H×W×3 uint8 BGR
        print(result.counts())

`import edgeseg` loads numpy and OpenCV only; each runtime is imported when a model needs it.
"""

from edgeseg.errors import (BackendError, DecodeError, EdgeSegError, InputError, MissingExtraError,
                            ModelLoadError, SpecError)
from edgeseg.results import InstanceResult, PanopticResult, SemanticResult, Timings
from edgeseg.spec import ModelSpec

__version__ = "0.1.0"

__all__ = [
    "BackendError", "DecodeError", "EdgeSegError", "InputError", "MissingExtraError", "ModelLoadError",
    "SpecError", "InstanceResult", "PanopticResult", "SemanticResult", "Timings", "ModelSpec", "load",
    "__version__",
]


def load(path, *, backend=None, device=None, threads=None, spec=None, **options):
    """Open a model file and return a `Segmenter` (callable on frames, a context manager).

    See `edgeseg.segmenter.load` for the arguments.
    """
    from edgeseg.segmenter import load as _load

    return _load(path, backend=backend, device=device, threads=threads, spec=spec, **options)

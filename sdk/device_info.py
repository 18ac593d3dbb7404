"""What this device is and which runtimes it has: for `edgeseg info` and every benchmark report."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from edgeseg.backends import BACKENDS, SUFFIX_DEFAULT


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# Distribution names that provide each backend's package (first found wins).
_DISTS = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
          "openvino": ("openvino",), "tflite": ("ai-edge-litert", "tflite-runtime")}


def backend_versions() -> dict[str, str | None]:
    """Installed version of each backend's runtime (None when missing), without importing it."""
    out: dict[str, str | None] = {}
    for name in BACKENDS:
        out[name] = None
        for dist in _DISTS[name]:
            v = _version(dist)
            if v:
                out[name] = f"{dist} {v}"
                break
    return out


def fingerprint() -> dict[str, object]:
    """A device fingerprint: CPU, cores, OS/arch, Python and library versions."""
    import cv2
    import numpy as np

    from edgeseg import __version__

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "arch": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "edgeseg": __version__, "backends": backend_versions()}


def default_backends() -> dict[str, str | None]:
    """Which backend `edgeseg.load` would pick for each file suffix here (None: not installed)."""
    versions = backend_versions()
    return {suffix: (name if versions[name] else None) for suffix, name in SUFFIX_DEFAULT.items()}

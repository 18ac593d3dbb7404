"""Reading and writing the model spec where it travels: inside the model file, or in a sidecar.

Slots, all under the key `SPEC_KEY`:
- ONNX: `metadata_props` (onnxruntime shows them as custom metadata; OpenVINO, reading the .onnx, files
  them under rt_info["framework"]);
- OpenVINO IR: `rt_info` in the .xml;
- TFLite: a metadata entry whose buffer holds the JSON;
- any format: the sidecar `sidecar_path(model)` = `<model file name>.edgeseg.json`, e.g.
  `net.tflite.edgeseg.json`. It keeps the suffix because one folder often holds net.onnx, net.xml and
  net.tflite, whose specs differ (output names, quantization).

`read_spec` prefers the embedded spec (it cannot drift from its file) and uses the sidecar only when the
file has none. `write_spec` embeds, and writes the sidecar only where embedding is impossible.
"""

from __future__ import annotations

import filecmp
import os
import tempfile
from pathlib import Path

from edgeseg.backends import Backend, open_backend, require
from edgeseg.errors import ModelLoadError, SpecError
from edgeseg.spec import SPEC_KEY, ModelSpec

SIDECAR_SUFFIX = ".edgeseg.json"


def sidecar_path(model_path: str | Path) -> Path:
    """Where the sidecar spec of `model_path` lives: next to it, named `<file name>.edgeseg.json`."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def read_spec(path: str | Path, backend: Backend | None = None) -> ModelSpec | None:
    """The spec of the model at `path`: embedded (read through `backend.metadata()`), else the sidecar,
    else None. Without `backend`, the suffix's default backend is opened briefly to read the metadata.

    Raises SpecError (naming where the spec came from) when the document is invalid.
    """
    path = Path(path)
    if backend is None:
        backend = open_backend(path)
        try:
            text = backend.metadata().get(SPEC_KEY)
        finally:
            backend.close()
    else:
        text = backend.metadata().get(SPEC_KEY)
    source = f"{path} (embedded {SPEC_KEY})"
    if text is None:
        sidecar = sidecar_path(path)
        if not sidecar.is_file():
            return None
        text, source = sidecar.read_text(encoding="utf-8"), str(sidecar)
    try:
        return ModelSpec.from_json(text)
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None


def write_spec(path: str | Path, spec: ModelSpec) -> Path:
    """Store `spec` in the model file at `path` (replacing any earlier one); returns the file written.

    .onnx and .xml always embed; .tflite embeds unless its weights live outside the flatbuffer (models
    over 2 GB), in which case, like any other format, the spec goes to the sidecar.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    text = spec.to_json()
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        _write_onnx(path, text)
    elif suffix == ".xml":
        _write_openvino(path, text)
    elif suffix == ".tflite" and _write_tflite(path, text):
        pass
    else:
        sidecar = sidecar_path(path)
        _atomic_write(sidecar, text.encode("utf-8"))
        return sidecar
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` beside `path` and rename it over `path`, so a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp makes the file private (0600); a model file gets the usual permissions of a new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_onnx(path: Path, text: str) -> None:
    onnx = require("onnx", "convert")
    try:
        # External weight files stay where they are: they are referenced by relative path and not rewritten.
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a readable ONNX model: {exc}") from exc
    kept = [p for p in model.metadata_props if p.key != SPEC_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=SPEC_KEY, value=text)
    _atomic_write(path, model.SerializeToString())


def _write_openvino(path: Path, text: str) -> None:
    ov = require("openvino", "openvino")
    try:
        model = ov.Core().read_model(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path}: OpenVINO could not read the model: {exc}") from exc
    model.set_rt_info(text, [SPEC_KEY])
    bin_path = path.with_suffix(".bin")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmp:
        new_xml = Path(tmp) / path.name
        ov.save_model(model, str(new_xml), compress_to_fp16=False)
        del model  # drops OpenVINO's memory map of the old .bin before it may be replaced
        new_bin = new_xml.with_suffix(".bin")
        # The spec lives in the .xml; the weights re-saved come out byte-identical, so the .bin is left
        # in place. Replace it only if OpenVINO wrote different weights (then .bin first, .xml last).
        if not (bin_path.is_file() and filecmp.cmp(bin_path, new_bin, shallow=False)):
            os.replace(new_bin, bin_path)
        os.replace(new_xml, path)


# A flatbuffer addresses at most 2 GB: larger TFLite models must keep their weights past it, by offset.
MAX_INLINE_BYTES = 2_000_000_000


def _write_tflite(path: Path, text: str) -> bool:
    """Embed `text` as the metadata entry SPEC_KEY. False when the model cannot be re-packed in one
    flatbuffer (over 2 GB, with buffers stored after it by offset)."""
    require("ai_edge_litert", "tflite")
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as fb

    from edgeseg.backends.tflite import read_metadata

    data = path.read_bytes()
    if not fb.Model.ModelBufferHasIdentifier(data, 0):
        raise ModelLoadError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(data, 0))
    if any(b.offset for b in model.buffers or []):
        # Weights stored after the flatbuffer by offset (ai-edge-quantizer writes models this way): bring
        # them inline so the model re-packs as one flatbuffer, which holds up to 2 GB.
        if len(data) > MAX_INLINE_BYTES:
            if SPEC_KEY in read_metadata(path):
                # A sidecar would be shadowed by the embedded spec, which read_spec prefers.
                raise SpecError(f"{path}: the embedded {SPEC_KEY} cannot be replaced in a model over 2 GB "
                                "whose weights are stored past the flatbuffer; re-export it with the new spec")
            return False
        for b in model.buffers:
            if b.offset:
                b.data = np.frombuffer(data, dtype=np.uint8, count=b.size, offset=b.offset)
                b.offset = 0
                b.size = 0
    payload = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    model.buffers = list(model.buffers or [])
    model.metadata = list(model.metadata or [])
    entry = next((m for m in model.metadata if m.name == SPEC_KEY.encode()), None)
    if entry is None:  # a new metadata entry pointing at a new buffer
        entry = fb.MetadataT()
        entry.name = SPEC_KEY
        entry.buffer = len(model.buffers)
        model.buffers.append(fb.BufferT())
        model.metadata.append(entry)
    model.buffers[entry.buffer].data = payload  # an earlier spec's buffer is reused, not orphaned
    builder = flatbuffers.Builder(len(data) + len(text) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    _atomic_write(path, bytes(builder.Output()))
    return True

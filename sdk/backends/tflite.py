"""TFLite backend: ai-edge-litert's interpreter, or tflite-runtime where that is what the device has.

Options: threads, XNNPACK on/off (off = the op resolver without default delegates), an external delegate
library (e.g. a vendor NPU delegate). Quantized models: a float32 array given for an int8/uint8 input is
quantized with that tensor's scale and zero point; int8/uint8 outputs come back dequantized to float32.

Tensor names are the model's signature names ("images", "logits") when it has one signature, which is what
litert-torch writes; otherwise the raw tensor names. Metadata is read straight from the flatbuffer (a few
offsets, see `read_metadata`), so it needs neither the schema package nor loading the whole model.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np

from edgeseg.backends import BackendOptions, TensorInfo, require
from edgeseg.backends._common import check_array, check_names, dequantize, quantize, TensorsAndMetadata
from edgeseg.errors import BackendError, MissingExtraError, ModelLoadError

_QUANTIZED = (np.dtype(np.int8), np.dtype(np.uint8))


def _interpreter_module():
    try:
        return require("ai_edge_litert.interpreter", "tflite")
    except MissingExtraError as first:
        try:
            return require("tflite_runtime.interpreter", "tflite")
        except MissingExtraError:
            raise first from None


class TfliteBackend(TensorsAndMetadata):
    name = "tflite"

    def __init__(self, interpreter, device: str, path: Path) -> None:
        self._interp = interpreter
        self._path = path
        self.device = device
        self._inputs, self._in_idx = _tensors(interpreter, "inputs")
        self._outputs, self._out_idx = _tensors(interpreter, "outputs")
        self._shapes = {i.name: tuple(d["shape"]) for i, d in zip(self._inputs, interpreter.get_input_details())}
        self._metadata = read_metadata(path)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        interp = self._interp
        if interp is None:
            raise BackendError(f"tflite: {self._path} is closed")
        check_names(self.name, inputs, self._inputs)
        try:
            for info, idx in zip(self._inputs, self._in_idx):
                array = self._prepare(inputs[info.name], info)
                if array.shape != self._shapes[info.name]:  # a dynamic axis changed size
                    interp.resize_tensor_input(idx, array.shape)
                    interp.allocate_tensors()
                    self._shapes[info.name] = array.shape
                interp.set_tensor(idx, np.ascontiguousarray(array))
            interp.invoke()
            out = {}
            for info, idx in zip(self._outputs, self._out_idx):
                value = interp.get_tensor(idx)
                out[info.name] = dequantize(value, *info.quant) if info.quant else value
            return out
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"tflite: inference failed on {self._path.name}: {exc}") from exc

    def _prepare(self, array: object, info: TensorInfo) -> np.ndarray:
        dtype = np.dtype(info.dtype)
        if isinstance(array, np.ndarray) and array.dtype == np.float32 and info.quant and dtype in _QUANTIZED:
            check_array(self.name, array, info, dtype=np.dtype(np.float32))
            return quantize(array, *info.quant, dtype)
        if isinstance(array, np.ndarray) and array.dtype in _QUANTIZED and dtype.kind == "f":
            raise BackendError(f"tflite: input {info.name!r} is {dtype.name} (normalized floats), got "
                               f"{array.dtype.name} pixels; preprocess the frame per the model spec first")
        return check_array(self.name, array, info)

    def close(self) -> None:
        self._interp = None


def _tensors(interp, kind: str) -> tuple[tuple[TensorInfo, ...], list[int]]:
    """TensorInfos (signature names when there is exactly one signature) and tensor indices, in the
    interpreter's order."""
    details = interp.get_input_details() if kind == "inputs" else interp.get_output_details()
    names = {d["index"]: d["name"] for d in details}
    signatures = interp.get_signature_list()
    if len(signatures) == 1:
        runner = interp.get_signature_runner(next(iter(signatures)))
        sig = runner.get_input_details() if kind == "inputs" else runner.get_output_details()
        by_index = {d["index"]: n for n, d in sig.items()}
        if set(by_index) == set(names):
            names = by_index
    infos = []
    for d in details:
        shape = tuple(None if s < 0 else int(s) for s in d.get("shape_signature", d["shape"]))
        scale, zero_point = d["quantization"]
        quant = (float(scale), int(zero_point)) if scale else None
        infos.append(TensorInfo(names[d["index"]], shape, np.dtype(d["dtype"]), quant))
    return tuple(infos), [d["index"] for d in details]


def read_metadata(path: Path) -> dict[str, str]:
    """The model's metadata entries whose data is UTF-8 text (trailing NULs dropped); binary ones skipped.

    Reads the TFLite flatbuffer directly: Model.buffers is field 4 and Model.metadata field 6; a Metadata
    table is (name: string, buffer: uint32); a Buffer is (data: [ubyte], offset: uint64, size: uint64),
    where offset/size point past the flatbuffer in models over 2 GB.
    """
    if path.stat().st_size < 8:
        return {}
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[4:8] != b"TFL3":
            return {}
        try:
            return _read_metadata(buf)
        except (struct.error, IndexError):  # offsets pointing outside the file: a damaged model
            return {}


class _FlatBuffer:
    """Just enough flatbuffer reading for tables, vectors and scalars (little-endian, offsets uint32)."""

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf

    def u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.buf, pos)[0]

    def u64(self, pos: int) -> int:
        return struct.unpack_from("<Q", self.buf, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field `index` of the table at `table`, or None when it is absent."""
        vtable = table - struct.unpack_from("<i", self.buf, table)[0]
        if 4 + 2 * index >= struct.unpack_from("<H", self.buf, vtable)[0]:
            return None
        rel = struct.unpack_from("<H", self.buf, vtable + 4 + 2 * index)[0]
        return table + rel if rel else None

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(position of the first element, length) of a vector or string field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        start = pos + self.u32(pos)
        return start + 4, self.u32(start)

    def table_at(self, vector_start: int, i: int) -> int:
        """Position of the i-th table of a vector of tables (each entry is an offset to its table)."""
        pos = vector_start + 4 * i
        return pos + self.u32(pos)


def _read_metadata(buf: mmap.mmap) -> dict[str, str]:
    fb = _FlatBuffer(buf)
    model = fb.u32(0)
    buffers, n_buffers = fb.vector(model, 4)
    entries, n_entries = fb.vector(model, 6)
    meta = {}
    for i in range(n_entries):
        entry = fb.table_at(entries, i)
        name_at, name_len = fb.vector(entry, 0)
        index_at = fb.field(entry, 1)
        index = fb.u32(index_at) if index_at is not None else 0
        if not name_at or index >= n_buffers:
            continue
        buffer = fb.table_at(buffers, index)
        data_at, size = fb.vector(buffer, 0)
        if not data_at:  # large model: the data sits after the flatbuffer at (offset, size)
            offset_at, size_at = fb.field(buffer, 1), fb.field(buffer, 2)
            if offset_at is None or size_at is None:
                continue
            data_at, size = fb.u64(offset_at), fb.u64(size_at)
        try:
            name = bytes(buf[name_at:name_at + name_len]).decode()
            meta[name] = bytes(buf[data_at:data_at + size]).decode().rstrip("\0")
        except UnicodeDecodeError:  # binary metadata (e.g. CONVERSION_METADATA) is not ours to read
            continue
    return meta


def open(path: Path, options: BackendOptions) -> TfliteBackend:  # noqa: A001 - the table's entry point name
    tfl = _interpreter_module()
    if options.device not in (None, "cpu", "CPU"):
        raise BackendError(f"tflite: runs on the CPU or through an external delegate (options.delegate); "
                           f"got device {options.device!r}; available: ['cpu']")
    delegates = []
    device = "CPU+XNNPACK" if options.xnnpack else "CPU"
    if options.delegate:
        if not Path(options.delegate).is_file():
            raise BackendError(f"tflite: delegate library {options.delegate} not found")
        try:
            delegates.append(tfl.load_delegate(options.delegate))
        except (ValueError, RuntimeError, OSError) as exc:
            raise BackendError(f"tflite: could not load delegate {options.delegate}: {exc}") from exc
        device = f"delegate:{Path(options.delegate).name}"
    resolver = (tfl.OpResolverType.AUTO if options.xnnpack
                else tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    try:
        interp = tfl.Interpreter(model_path=str(path), num_threads=options.threads,
                                 experimental_delegates=delegates or None,
                                 experimental_op_resolver_type=resolver)
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{path}: TFLite could not load the model: {exc}") from exc
    try:
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise BackendError(f"tflite: could not prepare {path.name}: {exc}") from exc
    return TfliteBackend(interp, device, path)

import shutil

import numpy as np
import pytest

from edgeseg.backends import open_backend
from edgeseg.backends.tflite import read_metadata
from edgeseg.errors import ModelLoadError, SpecError
from edgeseg.spec import SPEC_KEY, ModelSpec, Precision
from edgeseg.spec_io import read_spec, sidecar_path, write_spec
from tests import tiny_models

onnx = pytest.importorskip("onnx")
pytest.importorskip("openvino")
fb = pytest.importorskip("ai_edge_litert.schema_py_generated")


def _copy(model, fmt, tmp_path):
    """A private copy of one fixture file (with its .bin for IR) that a test may rewrite."""
    src = getattr(model, fmt)
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    if src.suffix == ".xml":
        shutil.copy(src.with_suffix(".bin"), dst.with_suffix(".bin"))
    return dst


def _run(path, x):
    backend = open_backend(path)
    try:
        return backend.run({"images": x})
    finally:
        backend.close()


def test_sidecar_path_keeps_the_model_suffix(tmp_path):
    assert sidecar_path(tmp_path / "net.tflite") == tmp_path / "net.tflite.edgeseg.json"
    assert sidecar_path("dir/net.xml").name == "net.xml.edgeseg.json"


def test_every_fixture_file_carries_its_spec(tiny_model):
    expected = tiny_models.make_spec(tiny_model.ref)
    for path in tiny_model.files:
        backend = open_backend(path)
        want = expected
        if path == tiny_model.tflite_int8:
            want = tiny_models.make_spec(tiny_model.ref, precision=Precision.INT8,
                                         method="ai-edge-quantizer static_wi8_ai8")
        spec = read_spec(path, backend)
        assert spec == want, path.name
        # Every output the spec names is one the file really has.
        assert {o.name for o in spec.outputs} == {t.name for t in backend.outputs}, path.name
    assert read_spec(tiny_model.onnx, open_backend(tiny_model.onnx, "openvino")) == expected
    assert read_spec(tiny_model.onnx) == expected  # opens the default backend itself


@pytest.mark.parametrize("fmt", ["onnx", "openvino", "tflite"])
def test_write_read_replaces_the_spec_and_keeps_the_model(tiny_semantic, tmp_path, fmt):
    path = _copy(tiny_semantic, fmt, tmp_path)
    x = tiny_semantic.ref.example
    before = _run(path, x)["logits"]
    spec = tiny_models.make_spec(tiny_semantic.ref).replace(name="renamed", class_names=("a", "b", "c"))
    assert write_spec(path, spec) == path
    assert write_spec(path, spec.replace(name="twice")) == path  # a second write replaces, never appends
    assert read_spec(path) == spec.replace(name="twice")
    np.testing.assert_array_equal(_run(path, x)["logits"], before)
    assert not sidecar_path(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name] + ([path.with_suffix(".bin").name] if fmt == "openvino" else []))  # no temp files left


def test_onnx_and_tflite_hold_exactly_one_spec_entry(tiny_semantic, tmp_path):
    spec = tiny_models.make_spec(tiny_semantic.ref)
    onnx_path, tflite_path = _copy(tiny_semantic, "onnx", tmp_path), _copy(tiny_semantic, "tflite", tmp_path)
    n_buffers = fb.Model.GetRootAs(tflite_path.read_bytes(), 0).BuffersLength()
    for _ in range(3):
        write_spec(onnx_path, spec)
        write_spec(tflite_path, spec)
    assert [p.key for p in onnx.load(str(onnx_path)).metadata_props].count(SPEC_KEY) == 1
    model = fb.Model.GetRootAs(tflite_path.read_bytes(), 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count(SPEC_KEY) == 1 and "min_runtime_version" in names
    assert model.BuffersLength() == n_buffers  # the earlier spec's buffer was reused


def test_openvino_write_leaves_the_weights_file_untouched(tiny_semantic, tmp_path):
    xml = _copy(tiny_semantic, "openvino", tmp_path)
    bin_stat = xml.with_suffix(".bin").stat()
    write_spec(xml, tiny_models.make_spec(tiny_semantic.ref).replace(name="ir"))
    after = xml.with_suffix(".bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (bin_stat.st_ino, bin_stat.st_mtime_ns)
    assert read_spec(xml).name == "ir"


def _strip_onnx_spec(path):
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))


def test_no_spec_is_none_and_a_sidecar_is_read(tiny_semantic, tmp_path):
    path = _copy(tiny_semantic, "onnx", tmp_path)
    _strip_onnx_spec(path)
    assert read_spec(path) is None
    spec = tiny_models.make_spec(tiny_semantic.ref).replace(name="from-sidecar")
    sidecar_path(path).write_text(spec.to_json())
    assert read_spec(path) == spec


def test_embedded_spec_wins_over_a_sidecar(tiny_semantic, tmp_path):
    path = _copy(tiny_semantic, "tflite", tmp_path)
    stale = tiny_models.make_spec(tiny_semantic.ref).replace(name="stale")
    sidecar_path(path).write_text(stale.to_json())
    assert read_spec(path).name == "tiny-semantic"


def test_unknown_format_gets_a_sidecar(tiny_semantic, tmp_path):
    engine = tmp_path / "net.engine"
    engine.write_bytes(b"serialized TensorRT engine")
    spec = tiny_models.make_spec(tiny_semantic.ref)
    assert write_spec(engine, spec) == sidecar_path(engine)
    assert ModelSpec.from_json(sidecar_path(engine).read_text()) == spec


def test_bad_specs_name_their_source_and_field(tiny_semantic, tmp_path):
    path = _copy(tiny_semantic, "onnx", tmp_path)
    _strip_onnx_spec(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(SpecError, match=r"semantic\.onnx\.edgeseg\.json: model spec is not valid JSON"):
        read_spec(path)
    doc = tiny_models.make_spec(tiny_semantic.ref).to_dict()
    model = onnx.load(str(path))
    model.metadata_props.add(key=SPEC_KEY, value=ModelSpec.from_dict(doc).to_json().replace('"version":1', '"version":7'))
    onnx.save(model, str(path))
    with pytest.raises(SpecError, match=r"semantic\.onnx \(embedded edgeseg_spec\): spec\.version: .* has 7"):
        read_spec(path)


def test_write_refuses_missing_and_corrupt_files(tiny_semantic, tmp_path):
    spec = tiny_models.make_spec(tiny_semantic.ref)
    with pytest.raises(ModelLoadError, match="absent.onnx: model file not found"):
        write_spec(tmp_path / "absent.onnx", spec)
    for name in ("bad.onnx", "bad.xml", "bad.tflite"):
        (tmp_path / name).write_bytes(b"\x01garbage" * 64)
        with pytest.raises(ModelLoadError, match=name):
            write_spec(tmp_path / name, spec)
        assert (tmp_path / name).read_bytes() == b"\x01garbage" * 64


def _store_buffers_past_the_flatbuffer(src, dst, which, *, drop_spec=False):
    """Rewrite a .tflite so the buffers chosen by `which(model)` live after the flatbuffer, addressed by
    (offset, size), as converters do for models over 2 GB; `drop_spec` also removes the embedded spec."""
    import flatbuffers

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(src.read_bytes(), 0))
    moved = which(model)
    payloads = [model.buffers[i].data.tobytes() for i in moved]
    for i, payload in zip(moved, payloads):
        model.buffers[i].data, model.buffers[i].offset, model.buffers[i].size = None, 1, len(payload)
    if drop_spec:
        model.metadata = [m for m in model.metadata if m.name != SPEC_KEY.encode()]

    def pack():
        builder = flatbuffers.Builder(0)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    head = pack()  # offsets are fixed-size fields: setting their real values keeps the length
    tail, pos = b"", (len(head) + 63) // 64 * 64
    for i, payload in zip(moved, payloads):
        model.buffers[i].offset = pos + len(tail)
        tail += payload + b"\0" * (-len(payload) % 64)
    head = pack()
    dst.write_bytes(head + b"\0" * (pos - len(head)) + tail)
    return dst


def _largest_weight(model):
    return [max(range(len(model.buffers)), key=lambda i: 0 if model.buffers[i].data is None else len(model.buffers[i].data))]


def _spec_buffer(model):
    return [next(m.buffer for m in model.metadata if m.name == SPEC_KEY.encode())]


def test_tflite_with_weights_past_the_flatbuffer_gets_them_inline(tiny_semantic, tmp_path):
    # ai-edge-quantizer writes even small models this way; the spec goes in after the weights come inline.
    src = _copy(tiny_semantic, "tflite", tmp_path)
    path = _store_buffers_past_the_flatbuffer(src, tmp_path / "offsets.tflite", _largest_weight)
    spec = tiny_models.make_spec(tiny_semantic.ref).replace(name="inline")
    assert write_spec(path, spec) == path and not sidecar_path(path).exists()
    assert read_spec(path) == spec
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(path.read_bytes(), 0))
    assert not any(b.offset for b in model.buffers)
    x = tiny_semantic.ref.example
    np.testing.assert_array_equal(_run(path, x)["logits"], _run(src, x)["logits"])


def test_tflite_over_2gb_gets_a_sidecar_or_refuses(tiny_semantic, tmp_path, monkeypatch):
    import edgeseg.spec_io as spec_io

    monkeypatch.setattr(spec_io, "MAX_INLINE_BYTES", 0)  # stands in for a model over 2 GB
    src = _copy(tiny_semantic, "tflite", tmp_path)
    bare = _store_buffers_past_the_flatbuffer(src, tmp_path / "big.tflite", _largest_weight, drop_spec=True)
    assert read_spec(bare) is None
    spec = tiny_models.make_spec(tiny_semantic.ref).replace(name="sidecar")
    assert write_spec(bare, spec) == sidecar_path(bare)
    assert read_spec(bare) == spec
    # With a spec already embedded, a sidecar would be shadowed: refused.
    embedded = _store_buffers_past_the_flatbuffer(src, tmp_path / "big2.tflite", _largest_weight)
    with pytest.raises(SpecError, match="big2.tflite: the embedded edgeseg_spec cannot be replaced"):
        write_spec(embedded, tiny_models.make_spec(tiny_semantic.ref))
    assert not sidecar_path(embedded).exists()


def test_tflite_metadata_stored_past_the_flatbuffer_is_read(tiny_semantic, tmp_path):
    src = _copy(tiny_semantic, "tflite", tmp_path)
    path = _store_buffers_past_the_flatbuffer(src, tmp_path / "big.tflite", _spec_buffer)
    assert read_metadata(path)[SPEC_KEY] == read_metadata(src)[SPEC_KEY]
    assert read_spec(path) == read_spec(src)

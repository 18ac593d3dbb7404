"""edgeseg.convert: export trained models to ONNX, OpenVINO IR and TFLite, FP32 and INT8."""

"""The ONNX detector adapter on a tiny model generated here (no model is downloaded or shipped).

The model's output is a fixed YOLOv8-shaped tensor ([1, 4 + 80, N]) plus 0 x
the input's mean (so it really reads the input): one person box at the centre of
the 64x64 input with score 0.9, one car below the confidence threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from vigil.core.errors import ConfigError
from vigil.video.detect import OnnxDetector
from vigil.video.model import Box, ObjectClass


def tiny_yolo(path: Path) -> None:
    out = np.zeros((1, 84, 2), np.float32)
    out[0, :4, 0] = [32, 32, 16, 32]  # cx, cy, w, h in input pixels
    out[0, 4 + 0, 0] = 0.9  # person
    out[0, :4, 1] = [10, 10, 8, 8]
    out[0, 4 + 2, 1] = 0.1  # car, too weak
    const = numpy_helper.from_array(out, "boxes")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["boxes", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 2])],
        initializer=[const, zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_onnx_boxes_map_back_to_the_frame_and_classes(tmp_path: Path) -> None:
    model = tmp_path / "tiny.onnx"
    tiny_yolo(model)
    det = OnnxDetector(model, min_confidence=0.3)
    frame = np.full((480, 640, 3), 100, np.uint8)
    region = Box(200, 100, 328, 228)  # a 128x128 moving region: the crop is scaled by 1/2
    (d,) = det.detect(frame, [region])
    assert d.cls is ObjectClass.PERSON and abs(d.confidence - 0.9) < 1e-6
    cx, cy = d.box.centre
    crop = region.grown(0.1, 640, 480)
    assert abs(cx - (crop.x1 + 32 * crop.w / 64)) < 2.0
    assert abs(cy - (crop.y1 + 32 * crop.h / 64)) < 2.0
    assert det.detect(frame, []) == []  # no moving region: the model is not even run


def test_missing_or_broken_model_is_a_clear_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        OnnxDetector(tmp_path / "absent.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a loadable ONNX model"):
        OnnxDetector(bad)

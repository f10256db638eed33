"""ONNX export of fitted models: :func:`to_onnx` and :func:`onnx_inputs`."""

from ._export import onnx_inputs, to_onnx

__all__ = ["onnx_inputs", "to_onnx"]

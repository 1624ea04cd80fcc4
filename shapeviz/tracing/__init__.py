"""The symbolic tracer: the core run on symbolic arrays, every shape recorded and verified."""

from shapeviz.tracing.dims import Dim
from shapeviz.tracing.parse import ShapeSyntaxError, parse_dims, parse_shape
from shapeviz.tracing.records import (EdgeRecord, GradRecord, GraphRecord, LayerRecord, NodeRecord, OutputRecord,
                                      StepRecord, Trace)
from shapeviz.tracing.symarray import SymArray  # first of the array modules (shapes, functions... import it)
from shapeviz.tracing.tracer import trace

__all__ = ["Dim", "SymArray", "Trace", "LayerRecord", "StepRecord", "GradRecord", "GraphRecord", "NodeRecord",
           "EdgeRecord", "OutputRecord", "trace", "parse_shape", "parse_dims", "ShapeSyntaxError"]

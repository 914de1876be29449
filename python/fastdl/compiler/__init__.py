"""Compiled steps: trace a training step (or a forward pass) once, replay it from C++.

``fastdl.compile_step(model, loss_fn, optimizer)`` and ``fastdl.compile(model)``; the design
(tracer, lowering table, memory planner, plan cache, fallback) is in docs/compile.md.
"""
from .step import CompiledModel, CompiledStep, compile, compile_step

__all__ = ["compile_step", "compile", "CompiledStep", "CompiledModel"]

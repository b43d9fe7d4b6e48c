"""Exporters: IntProgram -> deployable files (TFLite flatbuffers)."""

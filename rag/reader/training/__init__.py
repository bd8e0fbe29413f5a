"""Training the reader (needs the ``train`` extra: torch, sentence-transformers, datasets, accelerate).

Nothing here is imported when answering: :mod:`rag.reader` runs the exported ONNX models.
"""

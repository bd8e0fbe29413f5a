"""The reader: trained models that judge candidate sentences, and everything that feeds or fits them.

- :mod:`~rag.reader.candidates`: the sentences of retrieved passages that are judged, each with the sentence
  before it (used by every answerer);
- :mod:`~rag.reader.inputs`: how a candidate is written for the models (shared by training and answering);
- :mod:`~rag.reader.model`: the two int8 ONNX models (sentence scorer, short-answer span) in ``weights/``, with
  their card, loaded once per process;
- :mod:`~rag.reader.evidence`: the learned ranking of sentences and the abstention decision over the evidence
  for the best one (the fusion's decision, :mod:`rag.fusion`, is one of these too);
- :mod:`~rag.reader.training`: ``rag train-reader`` (needs the ``train`` extra), never imported when answering.

Example:
    >>> from rag.reader import load_reader
    >>> load_reader().span("Who flew the command module?", "Michael Collins flew it.")   # doctest: +SKIP
    ShortSpan(start=0, end=15, confidence=0.93, margin=7.2)
"""

from rag.reader.model import Reader, ShortSpan, load_reader

__all__ = ["Reader", "ShortSpan", "load_reader"]

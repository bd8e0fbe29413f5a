"""The learned fusion: one ranking of retrieved passages from several signals, and a calibrated three-way outcome.

- :mod:`~rag.fusion.model`: the signals, the ranking and decision, the outcome thresholds, the cards;
- :mod:`~rag.fusion.train`: ``rag train-fusion``, which fits them on training QA folders with retrieval in the loop;
- ``cards/``: the shipped cards, one per embedding model (``<model>.json``).
"""

from rag.fusion.model import SIGNALS, Fusion, Outcome, Ranking, load_fusion

__all__ = ["SIGNALS", "Fusion", "Outcome", "Ranking", "load_fusion"]

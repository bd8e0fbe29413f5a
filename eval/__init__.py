"""Evaluation: gold Q&A files, metrics, benchmark runs and reports. Uses only the public API of ``rag``."""

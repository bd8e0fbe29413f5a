"""The chat UI of rag: a Gradio page over :class:`rag.Chain`, started with ``rag serve``.

``ui.render`` turns answers into HTML (answer text with clickable citation markers, the sources panel);
``ui.app`` builds the Gradio app, the ``/ask`` API endpoint and the ``rag serve`` command line; ``ui.api`` the HTTP
API under ``/v1/`` that ``rag serve`` serves beside the page.
"""

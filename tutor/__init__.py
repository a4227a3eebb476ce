"""transformer-tutor: the app. Teaching logic in plain modules; Textual only in
``screens/`` and ``widgets/``."""

__version__ = "0.1.0"  # kept equal to pyproject.toml and engine.__version__ (tested)

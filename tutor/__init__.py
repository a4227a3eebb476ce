"""transformer-tutor: the app. Teaching logic in plain modules; Textual only in
``screens/`` and ``widgets/``."""

"""Everything Textual: the app, its screens, widgets and the stepper's tools."""

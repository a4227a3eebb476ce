"""The stepper's widgets: status bar, timeline tree, op card, tensor panels, map, plots."""

"""What each screen shows, as plain data (no Textual): the step, the cells, the run, and
the numbers of the nudge, descent, decoding and PyTorch twin tools."""

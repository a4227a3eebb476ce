"""The stepper's tools (nudge, descent, decode, the PyTorch twin): widgets under the
tensors, each owning its keys, state and messages (see ``base``)."""

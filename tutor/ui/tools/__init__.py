"""Tools the stepper offers beside stepping: each module here holds the actions for
one tool (nudge a weight, check a step in PyTorch, take a descent step, …).

A tool's action is a function ``name(screen, *args)``; the stepper calls it for a key
bound as ``tool('module', 'function', args…)``. A tool shows its results in the
stepper's tool area with ``screen.show_tool(widget)`` and may register
``screen.on_step_hooks.append(callback)`` to follow the cursor.
"""

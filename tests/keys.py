"""Short codes for the stepper's panels in tests: ``in0``, ``out``, ``upstream``,
``down1``, ``total1``, ``before``, ``grad``, ``after``."""

from __future__ import annotations

from tutor.views.step import PanelKey, Role

_FIXED = {"out": PanelKey(Role.OUTPUT), "upstream": PanelKey(Role.UPSTREAM),
          "before": PanelKey(Role.BEFORE), "grad": PanelKey(Role.GRADIENT),
          "after": PanelKey(Role.AFTER)}
_INDEXED = {"in": Role.INPUT, "down": Role.DOWNSTREAM, "total": Role.TOTAL}


def key(code: str) -> PanelKey:
    if code in _FIXED:
        return _FIXED[code]
    for prefix, role in _INDEXED.items():
        if code.startswith(prefix) and code[len(prefix):].isdigit():
            return PanelKey(role, int(code[len(prefix):]))
    raise KeyError(code)


def code(panel: PanelKey) -> str:
    for text, fixed in _FIXED.items():
        if fixed == panel:
            return text
    prefix = next(p for p, role in _INDEXED.items() if role is panel.role)
    return f"{prefix}{panel.input_index}"

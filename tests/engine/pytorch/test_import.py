"""Importing torch: its big libraries are loaded first with the interpreter lock let go."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.paths import ROOT


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_libraries_are_loaded_before_torch_is_imported_and_torch_then_works():
    out = run("""
        import sys
        from engine.pytorch import import_torch, preload_libraries

        def loaded():
            with open("/proc/self/maps") as maps:
                return {line.rsplit("/", 1)[-1].strip() for line in maps if ".so" in line}

        assert "libtorch_cpu.so" not in loaded()
        preload_libraries()
        assert "torch" not in sys.modules
        assert {"libc10.so", "libtorch_cpu.so", "libtorch_python.so"} <= loaded()
        torch = import_torch()
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (x * x).sum().backward()
        print(x.grad.tolist())
    """)
    assert out.split() == ["[2.0,", "4.0,", "6.0]"]  # d(Σx²)/dx = 2x


def test_without_torch_to_be_found_nothing_is_loaded(monkeypatch):
    import importlib.util

    import engine.pytorch as pytorch

    calls = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: calls.append(name))  # None
    monkeypatch.setattr(pytorch.ctypes, "CDLL", lambda *a: (_ for _ in ()).throw(
        AssertionError("nothing may be loaded")))
    pytorch.preload_libraries()
    assert calls == ["torch"]

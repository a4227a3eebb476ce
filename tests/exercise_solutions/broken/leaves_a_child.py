import subprocess
import sys
from pathlib import Path


def softmax_backward(p, g):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    Path(__file__).with_suffix(".pid").write_text(str(child.pid))
    while True:
        pass

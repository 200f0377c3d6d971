import subprocess
import sys

SCRIPT = """
import os, sys
from pathlib import Path
from qmr_core.quant.library_output import library_output_to
with library_output_to(Path(sys.argv[1])) as term:
    os.write(1, b"native stdout\\n")
    os.write(2, b"native stderr\\n")
    print("python stdout")
    print("python stderr", file=sys.stderr)
    term.print("progress line")
print("after")
"""


def test_library_output_goes_to_the_log_and_the_console_to_the_terminal(tmp_path):
    log = tmp_path / "logs" / "q.log"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, check=True)
    text = log.read_text()
    for line in ("native stdout", "native stderr", "python stdout", "python stderr"):
        assert line in text and line not in proc.stdout + proc.stderr
    assert "progress line" in proc.stdout and "progress line" not in text
    assert "after" in proc.stdout and "after" not in text

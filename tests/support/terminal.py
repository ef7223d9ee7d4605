"""Run the CLI as a person does: in a pseudo-terminal of a given size, and read what it shows.

``run_in_terminal`` starts a command with stdin/stdout/stderr on a pty of ``columns`` x ``rows``
(the size the program measures) and returns every byte it wrote.  ``Screen`` replays those bytes
as a terminal would (carriage returns, line feeds, cursor-up, erase-line, auto-wrap at the last
column) so a test can assert what stays on the screen at the end and whether any line ever
wrapped.
"""
from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field

_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")


@dataclass
class TerminalRun:
    output: str
    returncode: int


def run_in_terminal(argv: list[str], *, columns: int = 80, rows: int = 24, env: dict | None = None,
                    timeout: float = 60, on_output=None) -> TerminalRun:
    """Run ``argv`` on a fresh pty; ``on_output(text_so_far, process)`` is called as output arrives."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environment = dict(os.environ if env is None else env)
    environment.pop("COLUMNS", None)
    environment.pop("LINES", None)
    environment["TERM"] = "xterm"
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=environment,
                               start_new_session=True, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError("the command did not finish in time:\n"
                                     + b"".join(chunks).decode("utf-8", "replace"))
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not data:
                break
            chunks.append(data)
            if on_output is not None:
                on_output(b"".join(chunks).decode("utf-8", "replace"), process)
    finally:
        os.close(master)
    return TerminalRun(b"".join(chunks).decode("utf-8", "replace"), process.wait(10))


@dataclass
class Screen:
    """A minimal VT100: enough for tqdm and plain line output."""

    columns: int = 80
    lines: list[list[str]] = field(default_factory=lambda: [[]])
    row: int = 0
    col: int = 0
    wraps: int = 0
    longest_write: int = 0

    def feed(self, text: str) -> "Screen":
        i = 0
        run = 0
        while i < len(text):
            char = text[i]
            match = _CSI.match(text, i) if char == "\x1b" else None
            if match:
                self._control(match.group(1), match.group(2))
                i = match.end()
                continue
            if char == "\r":
                self.col, run = 0, 0
            elif char == "\n":
                self._down()
                self.col, run = 0, 0
            elif char == "\b":
                self.col = max(0, self.col - 1)
            elif char >= " ":
                if self.col >= self.columns:  # the character after the last column wraps
                    self.wraps += 1
                    self._down()
                    self.col = 0
                self._put(char)
                run += 1
                self.longest_write = max(self.longest_write, run)
            i += 1
        return self

    def _down(self) -> None:
        self.row += 1
        while len(self.lines) <= self.row:
            self.lines.append([])

    def _put(self, char: str) -> None:
        line = self.lines[self.row]
        while len(line) < self.col:
            line.append(" ")
        if self.col < len(line):
            line[self.col] = char
        else:
            line.append(char)
        self.col += 1

    def _control(self, params: str, final: str) -> None:
        count = int(params) if params.isdigit() else 1
        if final == "A":
            self.row = max(0, self.row - count)
        elif final == "B":
            for _ in range(count):
                self._down()
        elif final == "K":
            line = self.lines[self.row]
            if params in ("", "0"):
                del line[self.col:]
            elif params == "2":
                line.clear()
            elif params == "1":
                for k in range(min(self.col + 1, len(line))):
                    line[k] = " "
        elif final == "G":
            self.col = max(0, count - 1)

    def text(self) -> list[str]:
        """The lines on the screen now, without trailing blanks and without empty last lines."""
        rendered = ["".join(line).rstrip() for line in self.lines]
        while rendered and not rendered[-1]:
            rendered.pop()
        return rendered

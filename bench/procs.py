"""CPU time and memory of processes, from /proc: what the workers, moto, Valkey and the intake really spend.

Why /proc and not ``time.process_time``: the pipeline runs in other processes (Celery's parent, its pool children,
and each pool child's C2PA reader child). Summing ``utime + stime + cutime + cstime`` over a process tree is
conserved when a child exits and is reaped (its time moves into the parent's ``cutime``), so the difference of two
snapshots is the tree's CPU in between, even if a reader child was restarted meanwhile.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_TICKS = os.sysconf("SC_CLK_TCK")
Role = Literal["parent", "pool", "reader", "other"]


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cmdline: str
    cpu_s: float
    """utime + stime of the process itself."""
    reaped_cpu_s: float
    """cutime + cstime: CPU of children it has waited for."""

    @property
    def total_cpu_s(self) -> float:
        return self.cpu_s + self.reaped_cpu_s


def _read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return Proc(pid, int(fields[1]), cmdline, (utime + stime) / _TICKS, (cutime + cstime) / _TICKS)


def snapshot() -> dict[int, Proc]:
    """Every process on the machine (a few hundred at most: cheap enough to take per phase)."""
    table: dict[int, Proc] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (proc := _read_proc(int(entry.name))) is not None:
            table[proc.pid] = proc
    return table


def descendants(table: Mapping[int, Proc], root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def tree_cpu(table: Mapping[int, Proc], root: int) -> float:
    return sum(table[p].total_cpu_s for p in descendants(table, root))


def worker_role(table: Mapping[int, Proc], pid: int, root: int) -> Role:
    """Celery's parent, a prefork pool child, or a C2PA reader child (``python -m
    pipeline.adapters.credentials.isolated``)."""
    if pid == root:
        return "parent"
    if "pipeline.adapters.credentials.isolated" in table[pid].cmdline:
        return "reader"
    if table[pid].ppid == root:
        return "pool"
    return "other"


def worker_cpu_by_role(table: Mapping[int, Proc], root: int) -> dict[Role, float]:
    """CPU seconds of the worker tree split by role (a reaped reader's time counts for its pool child)."""
    out: dict[Role, float] = {"parent": 0.0, "pool": 0.0, "reader": 0.0, "other": 0.0}
    for pid in descendants(table, root):
        out[worker_role(table, pid, root)] += table[pid].total_cpu_s
    return out


def find(table: Mapping[int, Proc], root: int, needle: str) -> int | None:
    """The first process below ``root`` whose command line contains ``needle`` (moto, valkey)."""
    for pid in descendants(table, root):
        if pid != root and needle in table[pid].cmdline:
            return pid
    return None


def memory_kb(pid: int, fields: Iterable[str] = ("VmHWM", "VmRSS")) -> dict[str, int]:
    """Selected ``/proc/PID/status`` lines in kB (VmHWM is the peak resident set since the process started)."""
    wanted = set(fields)
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in wanted:
                out[name] = int(value.split()[0])
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat (all cores)."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user/nice
    return (total - idle) / _TICKS, total / _TICKS

"""Run one command and report its wall time, CPU time and peak RSS.

    python -I -S bench/measure.py LOGFILE -- COMMAND [ARG...]

Prints one line: ``wall_s user_s sys_s maxrss_kib exit_code launcher_maxrss_kib``.
The command's stdout and stderr go to LOGFILE.

Why a separate, minimal launcher: on Linux a process's ru_maxrss starts from the
resident size of the process it was forked from (exec records the old image's
high-water mark), so a command started straight from bench/run.py would never
report less than run.py's own ~28 MiB. Forked from this script (imports: os,
sys, time; ~5 MiB), the floor is negligible. The last field says what it is.
ru_maxrss from wait4 is the largest single process among the command and the
children it waited for (not a sum); threads share their process's RSS.
"""

import os
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.stderr.write("usage: measure.py LOGFILE -- COMMAND [ARG...]\n")
        return 2
    log, argv = args[0], args[2:]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(null, 0)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.execv(argv[0], argv)
        except OSError as exc:
            os.write(2, f"measure.py: cannot run {argv[0]}: {exc}\n".encode())
        os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    own = open("/proc/self/status").read().split("VmHWM:")[1].split()[0] if os.path.exists("/proc/self/status") else "0"
    print(f"{wall:.6f} {ru.ru_utime:.6f} {ru.ru_stime:.6f} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)} {own}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

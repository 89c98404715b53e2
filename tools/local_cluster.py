r"""Runs a multi-worker job on this machine: N copies of a command, each with its own TF_CONFIG.

Every worker gets ``TF_CONFIG`` naming all workers on free localhost ports
(worker 0 is the chief) and ``CUDA_VISIBLE_DEVICES=-1``; the rest of the
environment is passed through. Their output is streamed line by line with a
``[worker I]`` prefix. When one worker fails, the others are stopped and this
exits non-zero, naming the worker. SIGINT or SIGTERM is passed on to every
worker (tfembed-train then saves a checkpoint and stops at the same step on all).

Usage::

    python tools/local_cluster.py --workers 2 -- tfembed-train --config mel_mel.gin \
        --data DATA --model_dir RUN --gin_param "train.distribution = 'multi_worker'"
    python tools/local_cluster.py --workers 2 -- python -m tfembed.cli.train ...
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 10.0
"""How long stopped workers get to exit on SIGTERM before SIGKILL."""

POLL_SECONDS = 0.2


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on localhost (held open together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            handle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            handle.bind(("localhost", 0))
            sockets.append(handle)
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def tf_config(ports: list[int], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` of a localhost cluster on ``ports``."""
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def _describe(status: int) -> str:
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


def _stream(index: int, process: subprocess.Popen, lock: threading.Lock) -> None:
    for line in process.stdout:
        with lock:
            sys.stdout.write(f"[worker {index}] {line}")
            sys.stdout.flush()


class Cluster:
    """The worker processes of one job."""

    def __init__(self, command: list[str], workers: int) -> None:
        self.lock = threading.Lock()
        ports = free_ports(workers)
        self.processes: list[subprocess.Popen] = []
        self.threads: list[threading.Thread] = []
        for index in range(workers):
            environment = {
                **os.environ,
                "TF_CONFIG": tf_config(ports, index),
                "CUDA_VISIBLE_DEVICES": "-1",
                "PYTHONUNBUFFERED": "1",
            }
            process = subprocess.Popen(
                command,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # signals reach workers through this process only
            )
            self.processes.append(process)
            self.say(f"worker {index} pid {process.pid} on localhost:{ports[index]}")
            thread = threading.Thread(target=_stream, args=(index, process, self.lock))
            thread.start()
            self.threads.append(thread)

    def say(self, message: str) -> None:
        """Prints one line of the cluster's own."""
        with self.lock:
            print(f"local_cluster: {message}", flush=True)

    def signal_all(self, number: int) -> None:
        """Sends a signal to every worker still running."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(number)

    def stop(self) -> None:
        """SIGTERM to every running worker, then SIGKILL after :data:`GRACE_SECONDS`."""
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and any(p.poll() is None for p in self.processes):
            time.sleep(POLL_SECONDS)
        self.signal_all(signal.SIGKILL)
        self.wait()

    def wait(self) -> None:
        """Waits for every worker and for their output to be printed."""
        for process in self.processes:
            process.wait()
        for thread in self.threads:
            thread.join()

    def first_failure(self) -> tuple[int, int] | None:
        """``(index, status)`` of a worker that ended with a non-zero status, if any."""
        for index, process in enumerate(self.processes):
            status = process.poll()
            if status not in (None, 0):
                return index, status
        return None


def run(command: list[str], workers: int) -> int:
    """Runs ``command`` as ``workers`` workers; returns the exit status of the job."""
    cluster = Cluster(command, workers)
    received: list[int] = []

    def forward(number: int, frame: object) -> None:
        received.append(number)
        cluster.say(f"received {signal.Signals(number).name}; passing it to every worker")
        cluster.signal_all(number)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, forward)
    while any(process.poll() is None for process in cluster.processes):
        failure = cluster.first_failure()
        if failure is not None and not received:
            index, status = failure
            cluster.say(f"error: worker {index} {_describe(status)}; stopping the other workers")
            cluster.stop()
            return 128 - status if status < 0 else status
        time.sleep(POLL_SECONDS)
    cluster.wait()
    if received:
        return 128 + received[0]
    failure = cluster.first_failure()
    if failure is not None:
        index, status = failure
        cluster.say(f"error: worker {index} {_describe(status)}")
        return 128 - status if status < 0 else status
    cluster.say(f"all {workers} workers finished")
    return 0


def main() -> int:
    """Parses ``--workers N -- COMMAND ...`` and runs the job."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the worker command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the worker command after --, e.g. -- tfembed-train ...")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}")
    return run(command, args.workers)


if __name__ == "__main__":
    sys.exit(main())

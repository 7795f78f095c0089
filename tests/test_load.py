"""Many visitors at once: ``python app.py`` on loopback (tiny checkpoints) gets two bursts of 60
concurrent requests through ``gradio_client``. The queue runs them one at a time; every one is
answered within a bounded time, each answer equals the same request made alone, and the
server's memory stops growing once the first burst has raised the allocator's high-water mark."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from conftest import serve_app

gradio_client = pytest.importorskip("gradio_client")

ROOT = Path(__file__).resolve().parent.parent
BURST = 60              # at once: more than 50, within the app's queue (app.QUEUE_SIZE = 64)
SECONDS = 300           # for one burst (about 50 s here, on 2 busy CPUs)
# Memory. The answers of one burst hold ~430 MB of Python objects (~1.4 M floats) while they are made.
# The first bursts raise the allocator's high-water mark, which glibc keeps as free heap rather than
# giving back (+80 to +160 MB on the first burst here, up to +50 more on the second): that memory is
# reused, so once two bursts have warmed the server, two more must leave RSS about where they found it.
# Fragmentation still moves it by tens of MB a burst either way (here +48, -16, +11; once +81 MB on
# CI's machine on the second burst), so the bound is on bursts 3 and 4 together: keeping a fifth of the
# answers adds 154 MB over them (measured, planted in app.py) and fails it; clean runs: -13 to +9 MB.
# Large blocks are mmapped at a fixed threshold (glibc's sliding one keeps them in the heap after the
# first burst) so that RSS follows what is live.
FIRST_BURST_MB, LATER_BURSTS_MB = 300, 120     # after the first; over bursts 3 and 4 together
LONG = "Ein Hund läuft über die Wiese und ein Mann mit einem Hut sieht ihm zu. " * 8   # ~130 tokens
REQUESTS = [  # (text, architectures, beam size): each answer differs from the others
    ("Ein Mann mit einem orangefarbenen Hut starrt auf etwas.", None, 1),
    (LONG, ["transformer", "convs2s"], 1),
    ("Zwei Hunde spielen im Schnee.", ["gru", "luong"], 3),
    (LONG, ["transformer", "lstm"], 2),
    ("🙂 <b>Hallo</b> & Tschüss", ["bahdanau", "transformer"], 1),
    ("Eine Frau fährt Fahrrad.", None, 2),
]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


@pytest.fixture(scope="module")
def server(checkpoint_root, tmp_path_factory):
    """``python app.py`` as the Space runs it (all threads), until it answers. Two malloc arenas: the
    memory bounds are about what Python keeps (see above for the mmap threshold), and how many per-thread arenas glibc opens depends on
    scheduling (with the default, the second burst once grew by 105 MB on a machine busy elsewhere)."""
    env = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}
    with serve_app(checkpoint_root, tmp_path_factory.mktemp("load") / "app.log", env=env) as running:
        yield running


def without_timing(answer: dict) -> dict:
    return {**answer, "models": {n: {k: v for k, v in m.items() if k != "seconds"} for n, m in answer["models"].items()}}


def test_bursts_of_requests_are_queued_and_each_answered_as_if_alone(server):
    proc, url = server
    client = gradio_client.Client(url, verbose=False, analytics_enabled=False, max_workers=BURST, download_files=False)

    def ask(request):
        text, architectures, beam_size = request
        return client.submit(text=text, architectures=architectures, beam_size=beam_size, api_name="/translate")

    alone = [without_timing(ask(r).result(timeout=60)) for r in REQUESTS]     # one at a time (and the warm-up)
    assert len({repr(a) for a in alone}) == len(REQUESTS)

    def burst() -> float:
        """BURST requests at once; checks every answer; returns RSS (MB) once they are done."""
        start = time.monotonic()
        jobs = [ask(REQUESTS[i % len(REQUESTS)]) for i in range(BURST)]
        waiting = 0                                         # the most requests seen waiting in the queue at once
        while not all(job.done() for job in jobs) and time.monotonic() - start < SECONDS:
            waiting = max(waiting, httpx.get(f"{url}gradio_api/queue/status", timeout=10).json()["queue_size"])
            time.sleep(0.2)
        answers = [job.result(timeout=max(1.0, SECONDS - (time.monotonic() - start))) for job in jobs]
        seconds = time.monotonic() - start
        assert seconds < SECONDS
        assert waiting >= 10                                # they queued: one ran at a time, the rest waited
        for i, answer in enumerate(answers):
            assert without_timing(answer) == alone[i % len(REQUESTS)], f"request {i} differs from the same alone"
        time.sleep(3)
        print(f"\n{BURST} requests in {seconds:.1f} s (at most {waiting} waiting); RSS {rss_mb(proc.pid):.0f} MB")
        return rss_mb(proc.pid)

    before = rss_mb(proc.pid)
    print(f"\nRSS before the bursts {before:.0f} MB")
    first = burst()
    warm = burst()
    burst()
    last = burst()
    assert first - before < FIRST_BURST_MB
    assert last - warm < LATER_BURSTS_MB
    assert client.predict(text="Ein Hund.", architectures=["gru"], api_name="/translate")["models"]["gru"]

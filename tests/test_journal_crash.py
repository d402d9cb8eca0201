"""Crash safety: a writer killed by SIGKILL at random moments loses nothing it reported."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from agent.journal.db import open_readonly
from agent.journal.records import parse_record
from agent.journal.verify import verify_records
from agent.security.crypto import Signer

REPO = Path(__file__).resolve().parents[1]

# The child appends reads as fast as it can and prints each seq once it is durable.
CHILD = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from agent.core.clock import SystemClock
from agent.config.schema import JournalConfig
from agent.security.crypto import Sealer, Signer
from agent.core.events import PlateRead
from agent.journal.store import Journal

path, sign_pem, seal_pem = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
signer = Signer(serialization.load_pem_private_key(sign_pem.read_bytes(), None))
sealer = Sealer(serialization.load_pem_public_key(seal_pem.read_bytes()))
journal = Journal(path, camera="cam-01", signer=signer, sealer=sealer,
                  config=JournalConfig(path=path, checkpoint_every=25), clock=SystemClock())
read = PlateRead(text="1CRA500", char_conf=(900,) * 7, country="B", lane=1,
                 direction="receding", vehicle_class=None, wall_ms=0, frames=3,
                 crop_jpeg=b"x" * 2000)
while True:
    futures = [journal.submit_read(read) for _ in range(20)]
    for f in futures:
        print(f.result(), flush=True)
"""


def test_sigkill_at_random_moments_loses_nothing_committed(tmp_path: Path) -> None:
    sign = ed25519.Ed25519PrivateKey.generate()
    seal = x25519.X25519PrivateKey.generate()
    sign_pem, seal_pem = tmp_path / "sign.pem", tmp_path / "seal.pub"
    sign_pem.write_bytes(
        sign.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    seal_pem.write_bytes(
        seal.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    journal = tmp_path / "journal.sqlite"
    rng = random.Random(20261129)
    reported: set[int] = set()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(journal), str(sign_pem), str(seal_pem)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        # Wait until it writes, then kill it at a random moment while it does.
        first = child.stdout.readline()
        assert first, "the writer did not start"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        out = first + child.stdout.read()
        child.wait()
        child.stdout.close()
        reported |= {int(line) for line in out.split()}

    keys = {Signer(sign).key_id: sign.public_key()}
    with open_readonly(journal, "cam-01") as store:
        wires = [r.wire for r in store.iter_records("reads")]
    _, problems = verify_records("cam-01", "reads", keys, wires)
    assert problems == []
    present = {parse_record(w).seq for w in wires}
    assert reported <= present
    assert len(reported) > 100

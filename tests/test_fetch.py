"""Reading inputs with a byte cap."""
from __future__ import annotations

import pytest

from transforms.fetch import InputTooLargeError, read_bytes


def test_reads_up_to_the_cap_and_refuses_more(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 9000)  # 2.3 MB: several read chunks
    assert read_bytes(str(path), max_bytes=256 * 9000) == path.read_bytes()
    with pytest.raises(InputTooLargeError, match="max_bytes=2303999"):
        read_bytes(str(path), max_bytes=256 * 9000 - 1)

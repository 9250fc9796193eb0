"""The HDF5 superblock's file-consistency flags: read them, and clear them like
``h5clear -s`` (which the h5py wheels do not ship).

A superblock of version 2 or 3 (what ``libver`` ≥ v110 writes) is, for 8-byte offsets::

    0  signature "\\x89HDF\\r\\n\\x1a\\n"   8  version   9  size of offsets
    10 size of lengths   11 consistency flags (bit 0 write, bit 2 SWMR write)
    12 base address, extension address, end-of-file address, root object header
    44 checksum: Jenkins lookup3 ("hashlittle", initval 0) of bytes 0..43

The flags are only ever cleared on a *copy* of a run file (see
:mod:`andreev.storage.recovery`), after the stored checksum has been verified, so a
file this module does not understand is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from andreev.errors import RunFileError

SIGNATURE = b"\x89HDF\r\n\x1a\n"
WRITE_ACCESS = 0x01
SWMR_WRITE_ACCESS = 0x04
_MASK = 0xFFFFFFFF
#: superblock versions with consistency flags and an end-of-file address (layout above)
VERSIONS_WITH_END = (2, 3)


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _MASK
    a ^= _rot(c, 4)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 6)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 8)
    b = (b + a) & _MASK
    a = (a - c) & _MASK
    a ^= _rot(c, 16)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 19)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 4)
    b = (b + a) & _MASK
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b
    c = (c - _rot(b, 14)) & _MASK
    a ^= c
    a = (a - _rot(c, 11)) & _MASK
    b ^= a
    b = (b - _rot(a, 25)) & _MASK
    c ^= b
    c = (c - _rot(b, 16)) & _MASK
    a ^= c
    a = (a - _rot(c, 4)) & _MASK
    b ^= a
    b = (b - _rot(a, 14)) & _MASK
    c ^= b
    c = (c - _rot(b, 24)) & _MASK
    return c


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` of ``data`` (HDF5's metadata checksum)."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _MASK
    pos = 0
    while n - pos > 12:
        a = (a + int.from_bytes(data[pos : pos + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[pos + 4 : pos + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[pos + 8 : pos + 12], "little")) & _MASK
        a, b, c = _mix(a, b, c)
        pos += 12
    if n - pos == 0:
        return c
    tail = data[pos:].ljust(12, b"\0")
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + int.from_bytes(tail[8:12], "little")) & _MASK
    return _final(a, b, c)


def _superblock_bytes(fh: BinaryIO) -> tuple[bytes, int]:
    """The bytes at the start of open file ``fh`` up to a version 2/3 superblock's
    checksum, and the checksum's offset (12 + 4 addresses of the size byte 9 gives; 8-byte
    addresses when the file ends before it). Fewer bytes when the file ends first; the
    signature and the version are the caller's to check."""
    head = fh.read(12)
    end = 12 + 4 * (head[9] if len(head) > 9 else 8)
    return head + fh.read(end + 4 - len(head)), end


def _read_superblock(path: Path) -> tuple[bytes, int]:
    """The superblock's bytes up to its checksum, and the checksum's offset."""
    with open(path, "rb") as fh:
        block, end = _superblock_bytes(fh)
    if len(block) < 12 or block[:8] != SIGNATURE:
        raise RunFileError(f"{path} is not an HDF5 file (no superblock at its start)")
    if block[8] not in VERSIONS_WITH_END:
        raise RunFileError(
            f"{path}: superblock version {block[8]} has no consistency flags to clear"
        )
    if len(block) < end + 4:
        raise RunFileError(f"{path}: the superblock is truncated")
    return block, end


def truncation_problem(path: str | os.PathLike[str]) -> str | None:
    """``"cut short: …"`` when a file is (a partial copy, a full disk): its size is below
    the end of file its version 2/3 superblock declares (HDF5 would retry such reads for
    ever in SWMR mode), or it ends inside its superblock. None when it is whole, or when
    this cannot tell (another superblock version, not HDF5).

    A writer extends the file to that end at every flush, so a file a killed writer left
    is whole; a live writer's file is never checked (see :func:`open_read`)."""
    with open(path, "rb") as fh:  # one read of the superblock and the size it declares
        block, end = _superblock_bytes(fh)
        actual = os.fstat(fh.fileno()).st_size
    if block[:8] != SIGNATURE or (len(block) > 8 and block[8] not in VERSIONS_WITH_END):
        return None  # not HDF5, or a superblock without that end of file: cannot tell
    if len(block) < end + 4:
        return f"cut short: {len(block)} bytes, inside its HDF5 superblock; not a whole run file"
    size = (end - 12) // 4  # bytes per address
    base, _extension, declared = (
        int.from_bytes(block[12 + i * size : 12 + (i + 1) * size], "little") for i in range(3)
    )
    if actual >= base + declared:
        return None
    return (
        f"cut short: {actual} of the {base + declared} bytes its HDF5 superblock declares "
        "(a partial copy, or a full disk?); not a whole run file"
    )


def superblock_version(path: str | os.PathLike[str]) -> int:
    """The superblock version of an HDF5 file (3 for ``libver`` v110 and up)."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[:8] != SIGNATURE:
        raise RunFileError(f"{path} is not an HDF5 file (no superblock at its start)")
    return head[8]


def consistency_flags(path: str | os.PathLike[str]) -> int:
    """The superblock's file-consistency flags (0 for a cleanly closed file)."""
    block, _ = _read_superblock(Path(path))
    return block[11]


def clear_consistency_flags(path: str | os.PathLike[str]) -> bool:
    """Set the flags to 0 and rewrite the checksum, in place (``h5clear -s``).

    Returns False when they were already clear. Raises RunFileError when the stored
    checksum does not match (then nothing is written).
    """
    path = Path(path)
    block, end = _read_superblock(path)
    stored = int.from_bytes(block[end : end + 4], "little")
    if lookup3(block[:end]) != stored:
        raise RunFileError(f"{path}: the superblock checksum does not match; not touching it")
    if block[11] == 0:
        return False
    fixed = block[:11] + b"\0" + block[12:end]
    with open(path, "r+b") as fh:
        fh.write(fixed + lookup3(fixed).to_bytes(4, "little"))
        fh.flush()
        os.fsync(fh.fileno())
    return True

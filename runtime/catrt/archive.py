"""Bounded reading of zip archives and .npz files from strangers.

Golden files (.npz), and in catdeploy .qg archives and .pt2 programs, are zip archives that users
download and pass around. This reader never trusts a size it has not checked:

- the central directory is parsed here (not by `zipfile`), entry by entry, after its declared
  member count is checked against the limit;
- each member's declared uncompressed size, the sum of all of them and the compression ratio
  (declared / compressed) are checked before anything is decompressed;
- a compressed member is inflated in chunks into a buffer of its declared size, and refused as
  soon as it produces one byte more (a lying header), or fewer, or the wrong CRC;
- an .npy member's header (dtype, shape) is parsed first: object dtypes (pickle) are refused, and
  elements, bytes and the data length must agree with the limits and with each other before an
  array is made.

Every refusal is an ArchiveError (a CatrtError): one line naming the archive and the limit.
Standard library and NumPy only, like the rest of catrt.
"""
from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Union

import numpy as np

from .errors import CatrtError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
# The largest model the toolchain exports (docs/ARCHITECTURES.md), regnet_y_128gf, has 637.5 M
# parameters; archive limits of models (.qg, .pt2) are derived from this bound, with 10 % to spare.
MAX_MODEL_PARAMETERS = 700_000_000
STORED, DEFLATED = 0, 8
CHUNK_BYTES = 1 * MiB               # compressed bytes read at a time while inflating
NPY_HEADER_MAX_BYTES = 10_000       # numpy's own bound on an .npy header (max_header_size)
ARRAY_KINDS = "biufcU"              # numbers, booleans and strings (a golden file's meta); no objects

Source = Union[bytes, bytearray, memoryview, str, os.PathLike]
ReadAt = Callable[[int, int], bytes]


class ArchiveError(CatrtError):
    """An archive over one of its limits, or malformed; the message is one line naming the limit."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What one kind of archive may hold. `label` names the archive in messages."""

    label: str
    max_members: int
    max_member_bytes: int            # declared (and actual) uncompressed size of one member
    max_total_bytes: int             # declared uncompressed size of all members together
    max_ratio: int = 64              # declared / compressed size of a member larger than ...
    ratio_exempt_bytes: int = 1 * MiB    # ... this (small members, e.g. JSON, may compress more)
    max_array_elements: int = 1 << 28
    max_array_bytes: int = 1 * GiB

    def __post_init__(self) -> None:
        if min(self.max_members, self.max_member_bytes, self.max_total_bytes, self.max_ratio,
               self.max_array_elements, self.max_array_bytes) < 1:
            raise ValueError(f"{self.label}: archive limits must be positive")


@dataclass(frozen=True)
class Member:
    """One central-directory entry, as declared (checked against the limits, not yet read)."""

    name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int                        # declared uncompressed size
    header_offset: int


@dataclass(frozen=True)
class Directory:
    """The checked members of an archive and where its central directory starts."""

    members: tuple
    directory_offset: int

    def by_name(self) -> dict:
        return {m.name: m for m in self.members}


def _bad(limits: ArchiveLimits, message: str) -> ArchiveError:
    return ArchiveError(f"{limits.label}: {message}")


# ------------------------------------------------------------------------------------------------
# sources: bytes in memory or a file, read by (offset, length)

@contextlib.contextmanager
def _opened(source: Source) -> Iterator[tuple[int, ReadAt]]:
    """(size, read_at) of `source`; buffers are sliced without copying."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        yield len(view), lambda offset, length: view[offset:offset + length]
        return
    with open(source, "rb") as f:
        size = os.fstat(f.fileno()).st_size

        def read_at(offset: int, length: int) -> bytes:
            f.seek(offset)
            return f.read(length)

        yield size, read_at


# ------------------------------------------------------------------------------------------------
# central directory

_EOCD = struct.Struct("<4s4H2LH")          # end of central directory record (22 bytes + comment)
_ZIP64_LOCATOR = struct.Struct("<4sLQL")   # 20 bytes, just before the EOCD
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_ENTRY = struct.Struct("<4s4B4HL2L5H2L")   # central directory entry (46 bytes + name, extra, comment)
_LOCAL = struct.Struct("<4s5H3L2H")        # local file header (30 bytes + name, extra)


def _end_record(size: int, read_at: ReadAt, limits: ArchiveLimits) -> tuple[int, int, int]:
    """(member count, directory size, directory offset) from the end records (zip64 too)."""
    tail_length = min(size, _EOCD.size + 0xFFFF)
    tail = bytes(read_at(size - tail_length, tail_length))
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0:
        if pos + _EOCD.size <= len(tail):
            fields = _EOCD.unpack_from(tail, pos)
            if pos + _EOCD.size + fields[7] == len(tail):
                break
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    if pos < 0:
        raise _bad(limits, "not a zip archive (no end of central directory record)")
    _, _, _, _, count, directory_size, directory_offset, _ = fields
    eocd_at = size - tail_length + pos
    if eocd_at >= _ZIP64_LOCATOR.size:
        locator = bytes(read_at(eocd_at - _ZIP64_LOCATOR.size, _ZIP64_LOCATOR.size))
        signature, _, zip64_at, _ = _ZIP64_LOCATOR.unpack(locator)
        if signature == b"PK\x06\x07":
            record = bytes(read_at(zip64_at, _ZIP64_EOCD.size)) if zip64_at <= size else b""
            if len(record) != _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
                raise _bad(limits, "malformed zip64 end of central directory record")
            _, _, _, _, _, _, _, count, directory_size, directory_offset = _ZIP64_EOCD.unpack(record)
            eocd_at = zip64_at
    if count > limits.max_members:
        raise _bad(limits, f"{count:,} members, over the limit of {limits.max_members:,} (member count)")
    if directory_offset + directory_size > eocd_at:
        raise _bad(limits, "the central directory lies outside the file (truncated or not a zip archive)")
    return count, directory_size, directory_offset


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the zip64 extra field where the 32-bit fields say 0xFFFFFFFF."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4:pos + 4 + length]
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body)) if len(body) >= 8 else []
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    return size, compressed, offset


def _check_member(member: Member, limits: ArchiveLimits) -> None:
    name = member.name
    if member.flags & 0x1:
        raise _bad(limits, f"member {name!r} is encrypted")
    if member.method not in (STORED, DEFLATED):
        raise _bad(limits, f"member {name!r} uses compression method {member.method} "
                           f"(only stored and deflate are read)")
    if member.size > limits.max_member_bytes:
        raise _bad(limits, f"member {name!r} declares {member.size:,} bytes uncompressed, over the "
                           f"limit of {limits.max_member_bytes:,} per member")
    if member.method == STORED and member.size != member.compressed_size:
        raise _bad(limits, f"member {name!r} is stored with {member.compressed_size:,} bytes but "
                           f"declares {member.size:,} (lying header)")
    if (member.method == DEFLATED and member.size > limits.ratio_exempt_bytes
            and member.size > limits.max_ratio * member.compressed_size):
        ratio = member.size / max(member.compressed_size, 1)
        raise _bad(limits, f"member {name!r} declares {member.size:,} bytes from {member.compressed_size:,} "
                           f"compressed ({ratio:,.0f}:1), over the compression ratio limit of "
                           f"{limits.max_ratio}:1")


def read_directory(source: Source, limits: ArchiveLimits) -> Directory:
    """The members of the zip archive `source`, each checked against `limits` (count, declared
    size, total, ratio, method) before anything is decompressed."""
    with _opened(source) as (size, read_at):
        return _directory(size, read_at, limits)


def _directory(size: int, read_at: ReadAt, limits: ArchiveLimits) -> Directory:
    count, directory_size, directory_offset = _end_record(size, read_at, limits)
    table = bytes(read_at(directory_offset, directory_size))
    members, names, total, pos = [], set(), 0, 0
    for _ in range(count):
        if pos + _ENTRY.size > len(table) or table[pos:pos + 4] != b"PK\x01\x02":
            raise _bad(limits, "malformed central directory (an entry is cut short or misplaced)")
        (_, _, _, _, _, flags, method, _, _, crc, compressed, declared, name_length, extra_length,
         comment_length, _, _, _, offset) = _ENTRY.unpack_from(table, pos)
        start = pos + _ENTRY.size
        pos = start + name_length + extra_length + comment_length
        if pos > len(table):
            raise _bad(limits, "malformed central directory (a name or extra field runs past it)")
        raw_name = table[start:start + name_length]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        extra = table[start + name_length:start + name_length + extra_length]
        declared, compressed, offset = _zip64_sizes(extra, declared, compressed, offset)
        member = Member(name, method, flags, crc, compressed, declared, offset)
        if name in names:
            raise _bad(limits, f"member {name!r} appears twice")
        names.add(name)
        _check_member(member, limits)
        if offset + _LOCAL.size + compressed > directory_offset:
            raise _bad(limits, f"member {name!r} lies outside the file (truncated archive?)")
        total += declared
        if total > limits.max_total_bytes:
            raise _bad(limits, f"members declare more than {limits.max_total_bytes:,} bytes uncompressed "
                               f"in all (total limit)")
        members.append(member)
    return Directory(tuple(members), directory_offset)


# ------------------------------------------------------------------------------------------------
# member data

def _data_offset(member: Member, read_at: ReadAt, directory: Directory, limits: ArchiveLimits) -> int:
    header = bytes(read_at(member.header_offset, _LOCAL.size))
    if len(header) != _LOCAL.size or header[:4] != b"PK\x03\x04":
        raise _bad(limits, f"member {member.name!r}: no local file header at byte {member.header_offset:,}")
    name_length, extra_length = _LOCAL.unpack(header)[9:]
    start = member.header_offset + _LOCAL.size + name_length + extra_length
    if start + member.compressed_size > directory.directory_offset:
        raise _bad(limits, f"member {member.name!r} lies outside the file (truncated archive?)")
    return start


def _inflate(member: Member, start: int, read_at: ReadAt, limits: ArchiveLimits,
             sink: Optional[memoryview]) -> int:
    """Inflate `member` in chunks into `sink` (or nowhere); refuse it as soon as it produces more
    than its declared size. Returns the CRC-32 of the output."""
    inflater = zlib.decompressobj(-15)
    produced, crc, position, end = 0, 0, start, start + member.compressed_size
    while not inflater.eof:
        if inflater.unconsumed_tail:
            chunk = inflater.unconsumed_tail
        elif position < end:
            chunk = bytes(read_at(position, min(CHUNK_BYTES, end - position)))
            if not chunk:
                break
            position += len(chunk)
        else:
            chunk = b""
        try:
            piece = inflater.decompress(chunk, member.size - produced + 1)
        except zlib.error as exc:
            raise _bad(limits, f"member {member.name!r}: corrupt deflate data ({exc})") from None
        if produced + len(piece) > member.size:
            raise _bad(limits, f"member {member.name!r} inflates past its declared {member.size:,} bytes "
                               f"(lying header; actual size limit = declared size)")
        if sink is not None:
            sink[produced:produced + len(piece)] = piece
        crc = zlib.crc32(piece, crc)
        produced += len(piece)
        if not piece and not chunk:
            break
    if not inflater.eof or produced != member.size:
        raise _bad(limits, f"member {member.name!r}: inflates to {produced:,} bytes, declares {member.size:,} "
                           f"(truncated or lying header)")
    return crc


def _member_data(member: Member, read_at: ReadAt, directory: Directory, limits: ArchiveLimits):
    """The uncompressed bytes of `member` (a buffer of its declared size, CRC checked)."""
    start = _data_offset(member, read_at, directory, limits)
    if member.method == STORED:
        data = read_at(start, member.size)
        crc = zlib.crc32(data)
    else:
        try:
            data = bytearray(member.size)
        except MemoryError:
            raise _bad(limits, f"member {member.name!r}: out of memory for {member.size:,} bytes") from None
        crc = _inflate(member, start, read_at, limits, memoryview(data))
    if crc != member.crc:
        raise _bad(limits, f"member {member.name!r}: CRC mismatch (corrupt archive)")
    return data


def read_members(source: Source, limits: ArchiveLimits, names: Optional[Iterable[str]] = None) -> dict:
    """{name: bytes-like} of the members `names` present in `source` (all when None), each read
    under `limits`. Missing names are left out; the caller decides whether that is an error."""
    with _opened(source) as (size, read_at):
        directory = _directory(size, read_at, limits)
        members = directory.by_name()
        wanted = list(members) if names is None else [n for n in names if n in members]
        return {name: _member_data(members[name], read_at, directory, limits) for name in wanted}


def verify_members(path: Union[str, os.PathLike], limits: ArchiveLimits) -> Directory:
    """Check every member of the archive at `path` without keeping its data: declared sizes
    against the limits, and the actual size (and CRC) of each compressed member by inflating it
    into nothing. For archives another library reads afterwards (torch's .pt2 reader)."""
    with _opened(path) as (size, read_at):
        directory = _directory(size, read_at, limits)
        for member in directory.members:
            start = _data_offset(member, read_at, directory, limits)
            if member.method == DEFLATED and _inflate(member, start, read_at, limits, None) != member.crc:
                raise _bad(limits, f"member {member.name!r}: CRC mismatch (corrupt archive)")
        return directory


# ------------------------------------------------------------------------------------------------
# .npy and .npz

def parse_npy(name: str, data, limits: ArchiveLimits) -> np.ndarray:
    """The array in .npy bytes `data`, its header checked before any array is made: no object
    dtype, elements and bytes within the limits, and exactly as many data bytes as it declares."""
    view = memoryview(data).cast("B")
    head = io.BytesIO(bytes(view[:NPY_HEADER_MAX_BYTES + 16]))
    try:
        version = np.lib.format.read_magic(head)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran_order, dtype = read_header(head, max_header_size=NPY_HEADER_MAX_BYTES)
    except Exception as exc:  # numpy raises ValueError, SyntaxError, TypeError, ... on bad headers
        detail = " ".join(str(exc).split())[:160]
        raise _bad(limits, f"member {name!r}: not a readable .npy header ({type(exc).__name__}: {detail})") from None
    if dtype.hasobject or dtype.kind not in ARRAY_KINDS or dtype.itemsize == 0:
        raise _bad(limits, f"member {name!r}: dtype {dtype} is refused (object arrays need pickle and "
                           f"are never read: allow_pickle=False; only numbers, booleans and strings)")
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise _bad(limits, f"member {name!r}: malformed shape {shape}")
    elements = 1
    for d in shape:
        elements *= d
    if elements > limits.max_array_elements:
        raise _bad(limits, f"member {name!r}: shape {shape} has {elements:,} elements, over the limit of "
                           f"{limits.max_array_elements:,} per array")
    nbytes = elements * dtype.itemsize
    if nbytes > limits.max_array_bytes:
        raise _bad(limits, f"member {name!r}: shape {shape} of {dtype} is {nbytes:,} bytes, over the limit "
                           f"of {limits.max_array_bytes:,} per array")
    offset = head.tell()
    if len(view) - offset != nbytes:
        raise _bad(limits, f"member {name!r}: holds {len(view) - offset:,} bytes of data, its header "
                           f"declares {nbytes:,} ({dtype} {shape})")
    flat = np.frombuffer(view, dtype=dtype, count=elements, offset=offset)
    if fortran_order:
        return flat.reshape(shape[::-1]).transpose().copy(order="K")   # stays Fortran-ordered
    return flat.reshape(shape).copy()


def read_npz(source: Source, limits: ArchiveLimits, keys: Optional[Iterable[str]] = None) -> dict:
    """{key: array} of the .npz `source` (all arrays when keys is None; missing keys left out),
    every member and every array checked against `limits` before it is allocated."""
    names = None if keys is None else [f"{k}.npy" for k in keys]
    members = read_members(source, limits, names)
    arrays = {}
    for name in list(members):
        data = members.pop(name)       # drop each member's bytes once its array is made
        if name.endswith(".npy"):
            arrays[name[:-4]] = parse_npy(name, data, limits)
    return arrays

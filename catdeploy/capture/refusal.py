"""Capture refusals: every unsupported call site, grouped into one short line per op kind.

A model that capture cannot express is refused with CaptureRefused (a UserError): its message is
one line of at most MESSAGE_LIMIT characters with one entry per unsupported op kind (its first
sites, how many there are, and the source line of the first one); `entries` keeps every site as
data (the CLI prints it with --json).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from catdeploy.errors import UserError

# The CLI prints "error: " before the message: the line stays within 400 characters.
MESSAGE_LIMIT = 392
SITES_SHOWN = 3


@dataclass(frozen=True)
class UnsupportedOp:
    """One call that capture cannot express."""

    aten: str    # the op kind: "aten.sigmoid" (the aten ops the call dispatched; the torch name if none)
    where: str   # module path, or "<enclosing module path>/<fx node name>" for functions
    what: str    # "torch.nn.Sigmoid", "torch.sigmoid", "Tensor.sigmoid"
    reason: str  # why a known op was refused; "" for unknown ops
    source: str = ""  # "/path/model.py:42" where the call was made (see source_line)


class CaptureRefused(UserError):
    """The model uses ops capture cannot express. str(): one line naming each op kind with its
    count, first sites and source line; `entries`: every kind with all of its sites."""

    def __init__(self, model_name: str, sites: Sequence[UnsupportedOp]) -> None:
        self.model_name = model_name
        self.entries = group_sites(sites)
        super().__init__(refusal_line(model_name, self.entries))

    def as_json(self) -> dict[str, Any]:
        """The refusal as one JSON-ready object: the line and every kind with all its sites."""
        return {"error": str(self), "model": self.model_name, "unsupported": self.entries}


def group_sites(sites: Sequence[UnsupportedOp]) -> list[dict[str, Any]]:
    """One entry per op kind, in the order of first appearance: kind, count, the first site's call,
    reason and source, and every site."""
    entries: dict[str, dict[str, Any]] = {}
    for site in sites:
        entry = entries.get(site.aten)
        if entry is None:
            entry = entries[site.aten] = {"kind": site.aten, "count": 0, "call": site.what,
                                          "reason": site.reason, "source": site.source, "sites": []}
        entry["count"] += 1
        entry["sites"].append({"at": site.where, "call": site.what, "reason": site.reason,
                               "source": site.source})
    return list(entries.values())


def refusal_line(model_name: str, entries: Sequence[dict[str, Any]], limit: int = MESSAGE_LIMIT) -> str:
    """'model M: unsupported ops: KIND at SITE, SITE, SITE, ... (CALL: REASON; N sites; FILE:LINE),
    ..., and K more kinds', cut to at most `limit` characters (the first kind is always named)."""
    head = f"model {model_name}: unsupported ops: "
    texts: list[str] = []
    for i, entry in enumerate(entries):
        text = _entry_text(entry, SITES_SHOWN)
        if len(head + ", ".join(texts + [text]) + _more(len(entries) - i - 1)) <= limit:
            texts.append(text)
            continue
        if not texts:
            texts.append(_shortened(entry, limit - len(head) - len(_more(len(entries) - 1))))
        break
    return head + ", ".join(texts) + _more(len(entries) - len(texts))


def _more(kinds: int) -> str:
    return f", and {kinds} more kind{'s' if kinds != 1 else ''}" if kinds else ""


def _entry_text(entry: dict[str, Any], shown: int, reason_chars: int | None = None) -> str:
    sites = [s["at"] for s in entry["sites"]]
    where = ", ".join(sites[:shown]) + (", ..." if len(sites) > shown else "")
    reason = entry["reason"]
    if reason_chars is not None and len(reason) > reason_chars:
        reason = reason[:max(reason_chars - 3, 0)] + "..."
    details = [f"{entry['call']}: {reason}" if reason else entry["call"],
               f"{entry['count']} site{'s' if entry['count'] != 1 else ''}"]
    if entry["source"]:
        details.append(short_source(entry["source"]))
    return f"{entry['kind']} at {where} ({'; '.join(details)})"


def _shortened(entry: dict[str, Any], budget: int) -> str:
    """The first entry within `budget` characters: fewer sites, then a shorter reason, then cut."""
    for shown in range(SITES_SHOWN, 0, -1):
        text = _entry_text(entry, shown)
        if len(text) <= budget:
            return text
    room = len(entry["reason"]) - (len(text) - budget)  # `text`: the entry with one site
    if room >= 8:
        return _entry_text(entry, 1, reason_chars=room)
    return text[:max(budget - 3, 0)] + "..."


# ---------------------------------------------------------------------------------------------
# source lines

def _torch_dir() -> str:
    import torch

    return str(Path(torch.__file__).parent) + "/"   # not torchvision's folder beside it


def _installed(path: str) -> bool:
    return "/site-packages/" in path or "/dist-packages/" in path


def source_line(stack_trace: str | None) -> str:
    """'path/model.py:42' of a recorded stack trace: the innermost frame outside torch and outside
    installed packages (the user's own code) when there is one, else the innermost frame outside
    torch (e.g. timm's or torchvision's module that made the call); "" when there is none."""
    torch_dir = _torch_dir()
    frames = [(path, line) for path, line in re.findall(r'File "([^"]+)", line (\d+)', stack_trace or "")
              if not path.startswith(torch_dir)]
    users = [f for f in frames if not _installed(f[0])]
    chosen = users or frames
    if not chosen:
        return ""
    path, line = chosen[-1]
    return f"{path}:{line}"


def short_source(source: str) -> str:
    """A source line as the refusal line shows it: an installed package's file relative to its
    site-packages folder ('timm/layers/norm_act.py:136'), the user's own file in full."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in source:
            return source.split(marker, 1)[1]
    return source

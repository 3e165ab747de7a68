"""What an image in a prompt costs: its size read from the bytes of a data URL, and each
provider's published rule turning a size into tokens (the rule's parameters live in the registry)."""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping
from typing import Any

from ._errors import RequestBodyError

# Only this many base64 characters are decoded to find the size: headers are near the start,
# and decoding a 20 MB screenshot to read 30 bytes would dominate counting.
_HEADER_CHARS = 64 * 1024


def size_from_data_url(url: str, path: str) -> tuple[int, int] | None:
    """(width, height) of a `data:image/...;base64,` URL; None for a remote URL."""
    if not url.startswith("data:"):
        return None
    head, _, payload = url.partition(",")
    if ";base64" not in head:
        raise RequestBodyError(path, "data URL is not base64-encoded")
    return size_from_base64(payload, path)


def size_from_base64(payload: str, path: str) -> tuple[int, int]:
    chunk = payload[:_HEADER_CHARS]
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        data = base64.b64decode(chunk, validate=False)
    except (binascii.Error, ValueError):
        raise RequestBodyError(path, "image data is not valid base64") from None
    size = image_size(data)
    if size is None:
        raise RequestBodyError(path, "image is not a PNG, JPEG, GIF or WebP we can read the size of")
    return size


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first bytes of a PNG, GIF, WebP or JPEG file."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        # Start-of-frame markers carry the size; C4, C8 and CC are not frames.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def tokens_for(rule: Mapping[str, Any], width: int | None, height: int | None, detail: str = "high") -> int:
    """Tokens an image of this size costs under `rule`; an unknown size costs the rule's worst case."""
    kind = rule.get("kind")
    if kind == "tile":
        return _tile_tokens(rule, width, height, detail)
    if kind == "patch":
        return _patch_tokens(rule, width, height)
    if kind == "anthropic":
        return _anthropic_tokens(rule, width, height)
    raise ValueError(f"unknown image rule kind {kind!r}")


def _tile_tokens(rule: Mapping[str, Any], width: int | None, height: int | None, detail: str) -> int:
    base, per_tile = rule["base_tokens"], rule["tile_tokens"]
    if detail == "low":
        return base
    if width is None or height is None:
        # The most tiles an image can need: after scaling, a 768 px short side (2 tiles) by a
        # 2048 px long side (4 tiles).
        width, height = 768, 2048
    if width > 2048 or height > 2048:
        scale = 2048 / max(width, height)
        width, height = width * scale, height * scale
    if min(width, height) > 768:
        scale = 768 / min(width, height)
        width, height = width * scale, height * scale
    tiles = math.ceil(width / 512) * math.ceil(height / 512)
    return base + per_tile * tiles


def _patch_tokens(rule: Mapping[str, Any], width: int | None, height: int | None) -> int:
    patch, cap, multiplier = rule["patch_size"], rule["max_patches"], rule["multiplier"]
    if width is None or height is None:
        return math.ceil(cap * multiplier)
    patches = math.ceil(width / patch) * math.ceil(height / patch)
    if patches > cap:
        shrink = math.sqrt(patch * patch * cap / (width * height))
        # Scale down so that whole patches fit the width and height of the resized image.
        shrink *= min(math.floor(width * shrink / patch) / (width * shrink / patch),
                      math.floor(height * shrink / patch) / (height * shrink / patch))
        patches = min(cap, math.ceil(width * shrink / patch) * math.ceil(height * shrink / patch))
    return math.ceil(patches * multiplier)


def _anthropic_tokens(rule: Mapping[str, Any], width: int | None, height: int | None) -> int:
    divisor, long_edge = rule["tokens_divisor"], rule["max_long_edge_px"]
    max_pixels = rule["max_megapixels"] * 1_000_000
    if width is None or height is None:
        return rule["max_tokens_per_image"]
    if max(width, height) > long_edge:
        scale = long_edge / max(width, height)
        width, height = width * scale, height * scale
    if width * height > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
        width, height = width * scale, height * scale
    return math.ceil(width * height / divisor)

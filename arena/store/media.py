"""Image files: saved under random names, and read from users with size checks.

Nothing in a stored file name says which model made the image. Images from users (imports,
manifests) are checked against a pixel limit before decoding, so a decompression bomb is refused
instead of filling memory.
"""
from __future__ import annotations

import hashlib
import io
import secrets
from pathlib import Path

from PIL import Image

#: Largest image accepted from a user, in pixels (about 40 megapixels).
MAX_PIXELS = 40_000_000
#: Largest image file accepted from a user, in bytes.
MAX_BYTES = 50 * 1024 * 1024


class ImageInputError(ValueError):
    """An image a user supplied is missing, unreadable, too large or a decompression bomb."""


def _checked(path: Path, max_pixels: int, verify: bool) -> tuple[Image.Image | None, tuple[int, int]]:
    if not path.is_file():
        raise ImageInputError(f"{path}: no such image file")
    if path.stat().st_size > MAX_BYTES:
        raise ImageInputError(f"{path}: file larger than {MAX_BYTES // 2**20} MiB")
    try:
        img = Image.open(path)
        width, height = img.size  # header only, nothing decoded yet
        if width * height > max_pixels:
            img.close()
            raise ImageInputError(
                f"{path}: {width}x{height} pixels exceeds the limit of {max_pixels} "
                "(possible decompression bomb)")
        if verify:
            img.verify()  # the file's structure (PNG chunks and checksums), not its pixels
            img.close()
            return None, (width, height)
        return img, (width, height)
    except ImageInputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageInputError(f"{path}: unreadable image ({exc})") from None


def user_image_size(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """An image file's size from its header (pixels not decoded), after the checks of
    :func:`load_user_image`: present, not too large, readable, no bomb."""
    return _checked(Path(path), max_pixels, verify=True)[1]


def load_user_image(path: str | Path, *, max_pixels: int = MAX_PIXELS, mode: str = "RGB") -> Image.Image:
    """Open an image from a user, refusing missing, oversized or unreadable files."""
    img, _ = _checked(Path(path), max_pixels, verify=False)
    try:
        with img:
            img.load()
            return img.convert(mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageInputError(f"{path}: unreadable image ({exc})") from None


def png_bytes(img: Image.Image) -> bytes:
    """Encode an image as PNG (lossless)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def content_hash(data: bytes) -> str:
    """SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


class MediaStore:
    """A folder of images named by random tokens, served read-only under ``/media``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def save(self, img: Image.Image) -> tuple[str, str]:
        """Store ``img`` as PNG under a random name; return (name, content hash)."""
        data = png_bytes(img)
        name = secrets.token_hex(16) + ".png"
        (self.root / name).write_bytes(data)
        return name, content_hash(data)

    def path(self, name: str) -> Path:
        """The file of a stored name; refuses names that are not plain stored names."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise FileNotFoundError(name)
        path = self.root / name
        if not path.is_file():
            raise FileNotFoundError(name)
        return path

    def open(self, name: str, mode: str = "RGB") -> Image.Image:
        """Load a stored image."""
        with Image.open(self.path(name)) as img:
            return img.convert(mode)

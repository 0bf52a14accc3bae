"""One picture file of any size and mode as a greyscale uint8 array fitted like Fashion-MNIST's images
(aspect kept, centred, light garment on a dark ground): what `fmnist predict` and the image-folder dataset
read. PIL is imported only when a picture is."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fmnist.errors import DataError

SIZE = 28


def to_greyscale(image, background: int):
    """Any PIL image as mode L: 16-bit and float scaled to 0..255, transparency over the background."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # PIL's own convert("L") clips these at 255 instead of scaling them.
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or a.max() > 255 else 1.0 if a.max() <= 1 else 255.0
        return Image.fromarray(np.clip(a / top * 255.0, 0, 255).round().astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (background, background, background, 255))
        return Image.alpha_composite(ground, rgba).convert("L")
    return image.convert("L")


def fit(image, background: int, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """Scale the image to fit `size` (H, W), keeping the aspect, and centre it on a background of that size."""
    from PIL import Image

    (w, h), (height, width) = image.size, size
    scale = min(width / w, height / h)
    scaled = (min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale))))
    small = image.resize(scaled, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = Image.new("L", (width, height), background)
    canvas.paste(small, ((width - scaled[0]) // 2, (height - scaled[1]) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def load_image(path: str | Path, invert: bool = False, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """One image file as uint8 (H, W) of `size`, light on dark like Fashion-MNIST unless `invert`;
    DataError names a bad file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not an image")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file, not an image")
    # Transparent parts are background: dark for light-on-dark images, light for dark-on-light ones.
    background = 255 if invert else 0
    try:
        with Image.open(path) as image:
            image.draft("L", (size[1] * 4, size[0] * 4))  # JPEG: decode at a fraction of the size (big photos)
            image = ImageOps.exif_transpose(image)  # photos: upright as the camera meant
            pixels = fit(to_greyscale(image, background), background, size)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image (PNG or JPEG expected)") from None
    except Image.DecompressionBombError:
        raise DataError(f"{path}: image too large to decode safely") from None
    except Exception as exc:  # damaged data makes PIL's decoders raise many kinds (OSError, SyntaxError, ...)
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{path}: damaged or truncated image ({detail})") from None
    return 255 - pixels if invert else pixels

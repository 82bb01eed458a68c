"""Images decoded with Pillow behind a decompression-bomb guard and re-encoded without their
metadata; videos probed with ffprobe (Debian's ffmpeg package)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from auctera.domain.creatives import (
    MAX_ANIMATION_PIXELS,
    MAX_FRAMES,
    MAX_PIXELS,
    Format,
    MediaFacts,
    MediaRefused,
)

FFPROBE_TIMEOUT = 30.0
# What changes how the pixels look or move, kept through the re-encode; everything else goes.
_RENDERING = frozenset({"icc_profile", "transparency", "background", "duration", "loop", "disposal"})
_PILLOW_FORMAT = {Format.JPEG: "JPEG", Format.PNG: "PNG", Format.GIF: "GIF"}


class MediaInspector:
    def __init__(self, ffprobe: str | None = None) -> None:
        self._ffprobe = ffprobe or shutil.which("ffprobe")

    def clean_image(self, data: bytes, fmt: Format) -> tuple[bytes, MediaFacts]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[fmt]])
                # The header's size, before a pixel is decoded: a bomb is refused here.
                width, height = image.size
                frames = getattr(image, "n_frames", 1)
                if width * height > MAX_PIXELS:
                    raise MediaRefused(
                        f"the image declares {width}x{height} pixels: over the "
                        f"{MAX_PIXELS // 1_000_000} MP decompression-bomb limit for one frame"
                    )
                if width * height * min(frames, MAX_FRAMES) > MAX_ANIMATION_PIXELS:
                    raise MediaRefused(
                        f"the image declares {frames} frames of {width}x{height} pixels: over the "
                        f"{MAX_ANIMATION_PIXELS // 1_000_000} MP decompression-bomb limit for all frames"
                    )
                if frames > MAX_FRAMES:
                    raise MediaRefused(f"the image has {frames} frames; at most {MAX_FRAMES}")
                return _reencode(image, fmt), MediaFacts(width=width, height=height)
        except MediaRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaRefused(f"decompression-bomb guard: {exc}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise MediaRefused(f"the image cannot be decoded ({exc})") from None

    def probe_video(self, data: bytes) -> MediaFacts:
        if self._ffprobe is None:
            raise MediaRefused("videos cannot be inspected here: ffprobe (Debian's ffmpeg) is not installed")
        with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
            handle.write(data)
            handle.flush()
            try:
                done = subprocess.run(
                    [self._ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                     handle.name],
                    capture_output=True,
                    timeout=FFPROBE_TIMEOUT,
                    check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise MediaRefused("the video took too long to inspect") from None
        if done.returncode != 0:
            raise MediaRefused("the video cannot be read (ffprobe refused it)")
        info = json.loads(done.stdout or b"{}")
        streams = info.get("streams", [])
        video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
        audio: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "audio"), {})
        duration = info.get("format", {}).get("duration")
        return MediaFacts(
            width=video.get("width"),
            height=video.get("height"),
            duration_seconds=float(duration) if duration else None,
            video_codec=video.get("codec_name"),
            audio_codec=audio.get("codec_name"),
        )


def _reencode(image: Image.Image, fmt: Format) -> bytes:
    """The pixels again, nothing else: EXIF (GPS, camera), XMP, comments and text chunks are not
    carried over. The colour profile is kept (it changes how the pixels look)."""
    out = io.BytesIO()
    # Pillow writes some of what it read back out (a GIF's comment, EXIF): only these stay.
    image.info = {k: v for k, v in image.info.items() if k in _RENDERING}
    icc = image.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    if fmt is Format.JPEG:
        image.load()
        image.save(out, "JPEG", quality="keep", **extra)
    elif fmt is Format.PNG:
        image.save(out, "PNG", optimize=False, **extra)
    else:
        frames = getattr(image, "n_frames", 1)
        options = {"save_all": frames > 1, "loop": image.info.get("loop", 0)}
        if "duration" in image.info:
            options["duration"] = image.info["duration"]
        image.save(out, "GIF", **options)
    return out.getvalue()

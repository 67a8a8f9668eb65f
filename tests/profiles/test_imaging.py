"""The photo checks and rendering, on real bytes through real Pillow."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from backend.profiles import imaging
from tests import images


def test_phone_photo_passes_inspection():
    facts = imaging.image_inspect(images.jpeg(4032, 3024))
    assert (facts.format, facts.width, facts.height) == ("JPEG", 4032, 3024)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"just some text, renamed to photo.jpg\n", "not a JPEG, PNG, WebP or GIF"),
        (images.corrupt_jpeg(), "may be damaged"),
        (images.png_header_only(20_000, 20_000), "too large"),
        (images.png_header_only(12_001, 10), "too large"),
        (images.png_header_only(10_001, 10_001), "too large"),
        (images.tiff(), "not a JPEG, PNG, WebP or GIF"),
        (b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024), "larger than 10 MB"),
    ],
    ids=["empty", "text", "corrupt-jpeg", "bomb-20000", "too-wide", "over-100mp", "tiff", "11mb"],
)
def test_bad_uploads_are_rejected_with_a_clear_message(data, message):
    with pytest.raises(imaging.InvalidImage, match=message):
        imaging.image_inspect(data)


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """The JPEG with one more marker segment right after its start-of-image marker."""
    segment = bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def test_a_cut_off_photo_is_refused_even_with_a_whole_thumbnail_inside():
    # Phones embed a complete thumbnail JPEG, with its own scan and end
    # marker, in a segment ahead of the main image: only the main one counts.
    thumbnail = images.jpeg(160, 120)
    photo = _with_segment(images.jpeg(1600, 1200), 0xE2, b"THUMB\x00" + thumbnail)
    assert imaging.image_inspect(photo).width == 1600
    with pytest.raises(imaging.InvalidImage, match="may be damaged"):
        imaging.image_inspect(photo[: len(photo) - 4000])


def test_data_after_the_end_of_a_photo_is_accepted():
    # Some phones append a trailer after the end-of-image marker.
    photo = images.jpeg(800, 600) + b"SEFH" + bytes(200)
    assert imaging.image_inspect(photo).format == "JPEG"
    assert set(imaging.photo_render(photo)) == set(imaging.SIZES)


def test_stray_bytes_between_segments_are_skipped_as_libjpeg_does():
    photo = images.jpeg(800, 600)
    # Junk after the first segment, with a stuffed-looking FF 00 (Pillow skips it too).
    end = 4 + int.from_bytes(photo[4:6], "big")
    photo = photo[:end] + b"\x00\xff\x00" + photo[end:]
    assert imaging.image_inspect(photo).width == 800
    with pytest.raises(imaging.InvalidImage, match="may be damaged"):
        imaging.image_inspect(photo[: len(photo) // 2])


def test_a_progressive_photo_must_be_complete_too():
    out = io.BytesIO()
    Image.open(io.BytesIO(images.jpeg(800, 600))).save(out, format="JPEG", progressive=True)
    photo = out.getvalue()
    assert imaging.image_inspect(photo).width == 800
    with pytest.raises(imaging.InvalidImage, match="may be damaged"):
        imaging.image_inspect(photo[: len(photo) * 2 // 3])


def test_a_multi_picture_phone_photo_is_checked_and_rendered_from_its_first_image():
    first = Image.open(io.BytesIO(images.jpeg(1600, 1200)))
    second = Image.new("RGB", (1600, 1200), (0, 0, 0))  # e.g. a depth map
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[second])
    photo = out.getvalue()
    assert imaging.image_inspect(photo).format == "MPO"
    rendered = Image.open(io.BytesIO(imaging.photo_render(photo)[512]))
    assert rendered.size == (512, 512)
    red, _green, _blue = rendered.convert("RGB").getpixel((10, 256))  # type: ignore[misc]
    assert red > 150  # the left half of the photo, not the black depth map
    # Cut inside the first image's scan: refused before it is queued.
    cut = photo.index(b"\xff\xda") + 400
    with pytest.raises(imaging.InvalidImage, match="may be damaged"):
        imaging.image_inspect(photo[:cut])


def test_rendered_sizes_are_squares_in_webp():
    renders = imaging.photo_render(images.jpeg(1200, 800))
    assert set(renders) == set(imaging.SIZES)
    for size, data in renders.items():
        image = Image.open(io.BytesIO(data))
        assert image.format == "WEBP"
        assert image.size == (size, size)


def test_rendered_photo_carries_no_exif_or_gps():
    source = images.jpeg(800, 600, gps=True, orientation=1)
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(images.GPS_IFD)
    for data in imaging.photo_render(source).values():
        image = Image.open(io.BytesIO(data))
        assert not image.getexif()
        assert "exif" not in image.info
        assert "xmp" not in image.info
        assert "icc_profile" not in image.info
        assert b"Exif" not in data
        assert b"TestPhone" not in data


def test_sideways_photo_is_stored_upright():
    # Stored landscape (red left, blue right) with orientation 6: the camera
    # was turned, so the viewer must rotate 90 degrees clockwise, which puts
    # red on top and blue at the bottom.
    source = images.jpeg(800, 400, orientation=6)
    image = Image.open(io.BytesIO(imaging.photo_render(source)[512])).convert("RGB")
    for x in (50, 460):
        top = image.getpixel((x, 20))
        bottom = image.getpixel((x, 490))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[0] > 150 and top[2] < 100, (x, top)
        assert bottom[2] > 150 and bottom[0] < 100, (x, bottom)


def test_image_that_only_fails_when_decoded_is_a_permanent_error():
    data = images.png_undecodable()
    imaging.image_inspect(data)  # the web's cheap checks let it through
    with pytest.raises(imaging.InvalidImage, match="could not be decoded"):
        imaging.photo_render(data)


def test_png_with_transparency_keeps_alpha():
    out = io.BytesIO()
    Image.new("RGBA", (300, 300), (0, 0, 0, 0)).save(out, format="PNG")
    image = Image.open(io.BytesIO(imaging.photo_render(out.getvalue())[128]))
    assert image.mode == "RGBA"

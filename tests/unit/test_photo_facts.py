"""Capture time, camera and GPS presence from EXIF; malformed EXIF never fails a file."""

import io

from PIL import Image

from assets.decode import PhotoFacts, photo_facts, probe_image


def _jpeg(exif: Image.Exif | bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (40, 30), (120, 80, 40))
    if exif is None:
        image.save(buffer, "JPEG")
    else:
        image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def _camera_exif(gps: bool = True) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon\x00"
    exif[0x0110] = "EOS 5D Mark IV"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:05:01 14:03:22"
    sub[0x9011] = "+02:00"
    if gps:
        position = exif.get_ifd(0x8825)
        position[1], position[2] = "S", (33.0, 51.0, 54.0)
        position[3], position[4] = "E", (151.0, 12.0, 36.0)
    return exif


def test_a_camera_photo_gives_capture_time_camera_and_gps():
    probe = probe_image(_jpeg(_camera_exif()))
    facts = probe.photo
    assert facts.captured_at == "2024-05-01T14:03:22+02:00"
    assert (facts.camera_make, facts.camera_model) == ("Canon", "EOS 5D Mark IV")
    assert facts.has_gps is True
    assert round(facts.gps_latitude, 4) == -33.865 and round(facts.gps_longitude, 4) == 151.21
    assert facts.exif_problem is None


def test_no_exif_means_no_gps_and_nothing_else():
    assert probe_image(_jpeg()).photo == PhotoFacts(has_gps=False)
    facts = probe_image(_jpeg(_camera_exif(gps=False))).photo
    assert facts.has_gps is False and facts.captured_at == "2024-05-01T14:03:22+02:00"


def test_unknown_or_garbled_values_are_left_out():
    exif = Image.Exif()
    exif[0x010F] = b"\xff\xfeNikon"
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"  # cameras' "unknown"
    gps = exif.get_ifd(0x8825)
    gps[2] = (1.0, 2.0)  # a position with two numbers: not a position
    facts = probe_image(_jpeg(exif)).photo
    assert facts.captured_at is None and facts.has_gps is False
    assert facts.camera_make.endswith("Nikon")


def test_malformed_exif_never_fails_the_file():
    # An APP1 segment that claims to be EXIF and holds garbage, and one cut short.
    for payload in (b"Exif\x00\x00" + b"\x13" * 64, b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\xff"):
        probe = probe_image(_jpeg(payload))
        assert (probe.width, probe.height) == (40, 30)
        assert probe.photo.captured_at is None and probe.photo.camera_make is None


def test_photo_facts_survive_an_image_whose_exif_raises():
    class Broken:
        def getexif(self):
            raise SyntaxError("not a TIFF file")

    facts = photo_facts(Broken())
    assert facts.has_gps is None and "not a TIFF file" in facts.exif_problem

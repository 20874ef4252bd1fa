"""The old import path, inference/image_files.py: what it once defined is now in image_read.py,
image_original.py and image_write.py (tested in test_image_read.py, test_image_original.py,
test_image_write.py), and still imports from here."""

from impaint.inference import image_files, image_original, image_read, image_write

ONCE_HERE = [  # every public name image_files.py defined before the split
    "ALPHA_SUFFIXES", "EXIF_IFD", "GPS_IFD", "GREY_MODES", "HEIF_SUFFIXES", "INPUT_EXTENSIONS",
    "InputError", "JPEG_SUFFIXES", "LOSSY_QUALITY", "MAX_JPEG_EXIF", "OUTPUT_SUFFIXES",
    "Original", "TIFF_EXIF_TAGS", "UPRIGHT", "WIDE_SUFFIXES", "check_writable", "encode",
    "encode_wide_colour", "heif_support", "output_notes", "profile", "read_image", "read_mask",
    "read_original", "to_pil", "to_uint8", "wide_colour", "write_image"]


def test_every_name_once_defined_here_imports_from_here_as_its_new_homes_own():
    homes = (image_read, image_original, image_write)
    for name in ONCE_HERE:
        assert any(getattr(image_files, name) is vars(home).get(name) for home in homes), name

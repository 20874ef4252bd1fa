"""Image files in and out, the one import path for what three modules do (every name once
defined here stays importable from here):

image_read.py      decoding image and mask files (`read_image`, `read_mask`): EXIF
                   orientation, 16-bit greyscale and colour, HEIC with the optional pillow-heif;
                   every bad file an `InputError` with a one-line reason, never a traceback
image_original.py  what an output keeps of its input file (`Original`: alpha, greyscale, bit
                   depth, colour profile, EXIF), read by `read_original`
image_write.py     writing it back of the input's kind (`write_image`, `encode`, `to_pil`), and
                   what an output format loses of it (`output_notes`)
"""

from .image_original import (ALPHA_SUFFIXES, EXIF_IFD, GPS_IFD, JPEG_SUFFIXES,  # noqa: F401
                             MAX_JPEG_EXIF, TIFF_EXIF_TAGS, WIDE_SUFFIXES, Original,
                             read_original)
from .image_read import (GREY_MODES, HEIF_SUFFIXES, INPUT_EXTENSIONS, UPRIGHT,  # noqa: F401
                         InputError, heif_support, read_image, read_mask, wide_colour)
from .image_write import (LOSSY_QUALITY, OUTPUT_SUFFIXES, check_writable,  # noqa: F401
                          encode, encode_wide_colour, output_notes, profile, to_pil, to_uint8,
                          write_image)

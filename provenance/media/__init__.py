"""Per-kind extraction of metadata and pixels: image, video, document."""

"""What a file is, judged from its bytes (never its name), and which kind of evidence."""

from __future__ import annotations

import mimetypes

KINDS = ("image", "video", "audio", "scan", "document", "other")
SNIFF_BYTES = 8192


def sniff_mime(head: bytes) -> str:
    """MIME type from the first bytes: the `filetype` signature table, then a text check."""
    import filetype

    guess = filetype.guess(head)
    if guess is not None:
        return str(guess.mime)
    if not head:
        return "application/x-empty"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is still text.
            if exc.start >= len(head) - 3:
                return "text/plain"
    return "application/octet-stream"


def kind_of(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    if mime == "application/pdf":
        return "document"
    return "other"


def family_by_name(name: str) -> str | None:
    """The kind a file name's extension promises, if it promises one we handle."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        lower = name.lower()
        if lower.endswith((".heic", ".heif")):
            return "image"
        if lower.endswith((".opus", ".amr", ".m4a", ".aac", ".flac")):
            return "audio"
        return None
    kind = kind_of(guessed)
    return None if kind == "other" else kind


def decide_kind(name: str, mime: str, requested: str | None) -> tuple[str, str | None]:
    """(kind, refusal reason or None) for a file named `name` whose bytes sniff as `mime`."""
    sniffed = kind_of(mime)
    if requested is not None:
        if requested == "other":
            return "other", None
        wanted = "image" if requested == "scan" else requested
        if requested == "scan" and sniffed == "document":
            return "scan", None
        if requested == "audio" and sniffed == "video":
            return "audio", None  # the container decides: refused if it holds a picture
        if sniffed != wanted and mime not in ("application/octet-stream",):
            return requested, (
                f"content is {mime}, not {'an' if wanted[0] in 'aeiou' else 'a'} {wanted}"
                " as --kind says; pass --kind other to register the bytes as they are"
            )
        return requested, None
    promised = family_by_name(name)
    if promised is not None and sniffed != promised and mime != "application/octet-stream":
        return sniffed, (
            f"content is {mime}, but the name promises {'an' if promised[0] in 'aeiou' else 'a'}"
            f" {promised}; pass --kind other to register the bytes as they are"
        )
    if {promised, sniffed} == {"audio", "video"}:
        # One container holds sound, pictures or both (an .m4a sniffed as MP4, an Ogg
        # video): extraction reads its streams and says which it is.
        return "audio", None
    if sniffed == "other" and promised is not None:
        # Unknown bytes under a media name: let the decoder have the final say.
        return promised, None
    return sniffed, None

"""Container images: references, a small registry client (standard library
only), a content-addressed local store and safe layer unpacking.

Nothing here is imported by commands that do not touch images; the HTTP
code (nspod.image.registry) only by the ones that pull.
"""

"""The images the simulated Docker Hub has, how references name them, and the CLI's text when a
reference names nothing there.

    lookup("nginx"), lookup("nginx:1.27"), lookup("docker.io/library/nginx:latest") -> Image
    lookup("nope") -> None;  run_error("nope") is what `docker run nope` prints (exit RUN_EXIT)
Other packages add images through the entry-point group `cnmsim.images`: each entry point names an
Image, a callable returning an Image or a list of them, or a module that calls register() itself.
"""

from __future__ import annotations

from importlib import import_module, metadata

from cnmsim.engine.images.base import Image

IMAGES: dict[str, Image] = {}
ENTRY_POINTS = "cnmsim.images"
RUN_EXIT = 125  # docker run/create: the daemon refused (cli/command/container/run.go)
PULL_EXIT = 1
_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
_plugins_loaded = False


def register(image: Image) -> Image:
    """Add (or replace) an image under its name and aliases."""
    for name in (image.name, *image.aliases):
        IMAGES[name] = image
    return image


def parse_ref(ref: str) -> tuple[str, str, str]:
    """(familiar repository, tag, digest) of a reference, as docker normalises it:
    "nginx" -> ("nginx", "latest", ""); "docker.io/library/nginx:1.27" -> ("nginx", "1.27", "")."""
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    first, sep, rest = name.partition("/")
    if sep and first in _HUB:
        name = rest
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/"):]
    return name, tag or ("" if digest else "latest"), digest


def familiar(ref: str) -> str:
    """The reference as docker prints it back: "nope" -> "nope:latest"."""
    name, tag, digest = parse_ref(ref)
    return f"{name}@{digest}" if digest else f"{name}:{tag}"


def lookup(ref: str) -> Image | None:
    """The image a reference names (name, tag or `@sha256:<image id>` must exist), or None."""
    _load_plugins()
    name, tag, digest = parse_ref(ref)
    image = IMAGES.get(name)
    if image is None:
        return None
    if digest:
        return image if digest == f"sha256:{image.id}" else None
    return image if tag in image.tags else None


def daemon_error(ref: str) -> str:
    """The daemon's pull error for a reference lookup() does not find."""
    name, tag, digest = parse_ref(ref)
    if name in IMAGES:  # the repository exists, not this tag
        return f"manifest for {familiar(ref)} not found: manifest unknown: manifest unknown"
    return (f"pull access denied for {name}, repository does not exist or may require "
            "'docker login': denied: requested access to the resource is denied")


def run_error(ref: str, command: str = "run") -> str:
    """stderr of `docker run|create REF` for an image that cannot be pulled (exit RUN_EXIT)."""
    return (f"Unable to find image '{familiar(ref)}' locally\n"
            f"docker: Error response from daemon: {daemon_error(ref)}.\n"
            f"See 'docker {command} --help'.\n")


def pull_error(ref: str) -> tuple[str, str]:
    """(stdout, stderr) of `docker pull REF` for an image that cannot be pulled (exit PULL_EXIT)."""
    tag = parse_ref(ref)[1]
    explicit = "@" in ref or ref.rfind(":") > ref.rfind("/")
    out = "" if explicit else f"Using default tag: {tag}\n"
    return out, f"Error response from daemon: {daemon_error(ref)}\n"


def _load_plugins() -> None:
    """Register the images other installed packages declare (entry-point group cnmsim.images)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        obj = ep.load()
        if isinstance(obj, Image):
            register(obj)
        elif callable(obj):
            got = obj()
            for image in got if isinstance(got, list | tuple) else [got]:
                if isinstance(image, Image):
                    register(image)


def load_builtin() -> None:
    """Import the image modules of this package (each registers its images)."""
    for mod in ("nginx", "consul", "pets", "tools"):
        import_module(f"cnmsim.engine.images.{mod}")

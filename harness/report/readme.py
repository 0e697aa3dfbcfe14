"""Writing a section of README.rst or of a page of docs/: what stands between the RST comments `.. begin NAME` and
`.. end NAME`."""

import re


def replace_section(text, name, content):
    """`text` with the section NAME's content replaced by `content`."""
    pattern = re.compile(rf"(^\.\. begin {re.escape(name)}\n).*?(^\.\. end {re.escape(name)}$)", re.M | re.S)
    if not pattern.search(text):
        raise ValueError(f"no '.. begin {name}' / '.. end {name}' markers")
    return pattern.sub(lambda match: f"{match.group(1)}\n{content.strip()}\n\n{match.group(2)}", text, count=1)


def documents(readme):
    """README.rst and the pages of docs/ beside it: where the sections are."""
    return [readme, *sorted((readme.parent / "docs").glob("*.rst"))]


def holding(readme, name):
    """The one of documents(readme) with the markers of section NAME, or None."""
    return next((document for document in documents(readme) if f".. begin {name}\n" in document.read_text()), None)


def update_section(readme, name, content):
    """Replace the section NAME of the file `readme` (a Path) with `content`."""
    readme.write_text(replace_section(readme.read_text(), name, content))

"""Writing a section of README.rst: what stands between the RST comments `.. begin NAME` and `.. end NAME`."""
import re


def replace_section(text, name, content):
    """`text` with the section NAME's content replaced by `content`."""
    pattern = re.compile(rf"(^\.\. begin {re.escape(name)}\n).*?(^\.\. end {re.escape(name)}$)", re.M | re.S)
    if not pattern.search(text):
        raise ValueError(f"no '.. begin {name}' / '.. end {name}' markers")
    return pattern.sub(lambda match: f"{match.group(1)}\n{content.strip()}\n\n{match.group(2)}", text, count=1)


def update_section(readme, name, content):
    """Replace the section NAME of the file `readme` (a Path) with `content`."""
    readme.write_text(replace_section(readme.read_text(), name, content))

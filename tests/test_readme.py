"""README.rst is what users read first: it must render, and its commands must exist."""
import docutils.core
import docutils.utils

from harness.servers import ROOT, SERVERS


def test_readme_renders_without_warnings():
    text = (ROOT / "README.rst").read_text()
    docutils.core.publish_doctree(text, settings_overrides={"halt_level": docutils.utils.Reporter.WARNING_LEVEL,
                                                            "report_level": 5})


def test_readme_names_every_server_and_command():
    text = (ROOT / "README.rst").read_text()
    for server in SERVERS:
        assert server.script in text and str(server.port) in text
    for command in ("make test", "make bench", "./run_benchmark.sh"):
        assert command in text

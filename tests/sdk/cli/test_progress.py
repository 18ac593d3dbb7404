import io

from edgeseg.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_stream_gets_plain_lines_not_carriage_returns():
    out = io.StringIO()
    with Progress(500, "frames", stream=out, log_every=0.0) as bar:
        for _ in range(500):
            bar.update()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 500  # log_every 0: a line per update, and no repeat of the last one at exit
    assert lines[-1].startswith("500/500 frames ") and "(100 %" in lines[-1]


def test_log_stream_is_sparse_and_always_ends_with_the_total():
    out = io.StringIO()
    with Progress(1000, "frames", stream=out) as bar:  # default: a line at most every 10 s
        for _ in range(1000):
            bar.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("1000/1000 frames ")


def test_terminal_redraws_in_place_and_ends_the_line():
    out = Terminal()
    with Progress(3, "frames", stream=out) as bar:
        for _ in range(3):
            bar.update()
    text = out.getvalue()
    assert text.startswith("\r[##########----") and "1/3 frames" in text  # drawn at the first update, not 0.1 s later
    assert text.endswith("\n") and text.count("\n") == 1 and "3/3 frames" in text


def test_unknown_total_and_disabled():
    out = io.StringIO()
    with Progress(None, "frames", stream=out, log_every=0.0) as bar:
        bar.update(2)
    assert out.getvalue().startswith("2 frames ")
    quiet = io.StringIO()
    with Progress(10, stream=quiet, enabled=False) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""

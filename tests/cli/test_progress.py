"""The progress bar's lines, drawn with a fake clock."""

from __future__ import annotations

import io

from hopx_cli._progress import ProgressBar, human_size, render


def test_sizes_read_in_binary_units() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(8 * 1024 * 1024) == "8.0 MiB"
    assert human_size(3 * 1024**5) == "3072.0 TiB"


def test_a_line_with_a_known_total_has_a_bar_the_fraction_and_the_rate() -> None:
    line = render("f.bin", 512 * 1024, 1024 * 1024, 2.0, 100)
    assert line.startswith("f.bin  [")
    assert "#" * 20 + "." * 20 + "]" in line
    assert " 50%  512.0 KiB / 1.0 MiB  256.0 KiB/s" in line
    assert len(line) <= 100


def test_a_long_label_is_shortened_in_the_middle_and_the_figures_stay_whole() -> None:
    label = "data.csv -> 1796288949lhh4axe8:/workspace/data.csv"
    line = render(label, 8 << 20, 8 << 20, 0.2, 79)
    assert len(line) == 79
    assert line.startswith("data.csv")
    assert "…" in line
    assert "/data.csv  [" + "#" * 10 + "]" in line
    assert line.endswith("100%  8.0 MiB / 8.0 MiB  40.0 MiB/s")


def test_an_unknown_total_or_a_narrow_terminal_drops_the_bar() -> None:
    assert render("f", 2048, None, 1.0, 80) == "f  2.0 KiB  2.0 KiB/s"
    narrow = render("a-long-label", 1, 2, 0.0, 30)
    assert "[" not in narrow
    assert narrow.endswith(" 50%  1 B / 2 B")
    assert len(narrow) <= 30


def test_redraws_are_rate_limited_and_the_last_state_is_always_drawn() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = ProgressBar("x", out, width=60, clock=lambda: now[0])
    bar.update(0, 100)
    now[0] = 0.01
    bar.update(50, 100)  # too soon after the first: not drawn
    assert out.getvalue().count("\r") == 1
    now[0] = 0.5
    bar.update(99, 100)
    assert out.getvalue().count("\r") == 2
    bar.update(100, 100)
    bar.finish()
    drawn = out.getvalue()
    assert drawn.endswith("\x1b[K\n")
    assert "100%" in drawn.rsplit("\r", 1)[1]

"""The figure style scopes the look only: matplotlib's interactive flag survives the block."""

from __future__ import annotations

import matplotlib as mpl

from magicplan.plots import style


def test_style_keeps_the_interactive_flag_the_block_sets() -> None:
    # A notebook's first figure selects the inline backend inside the block, which turns the
    # flag on; it must stay on, or no later figure renders (issue 15 item 11).
    before = mpl.is_interactive()
    try:
        mpl.interactive(False)
        with style():
            mpl.interactive(True)
            assert mpl.rcParams["axes.grid"] is True  # the style applies inside
        assert mpl.is_interactive()
        with style():
            pass
        assert mpl.is_interactive()  # and an untouched flag stays as it was
    finally:
        mpl.interactive(before)

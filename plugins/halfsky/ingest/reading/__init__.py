"""Reading drops: the landing zone's listing (``landing``), opening a drop in any of its formats with
the contract's file guards (size, encoding, names, litter), and handing back each form's header and cells.

May import ``halfsky.contract`` and ``halfsky.config``.
"""

"""Reading drops: the landing zone's listing (``landing``), opening a drop in any of its formats with
the contract's file guards (size, encoding, names, litter), and handing back each form's header and cells.

``drop_reader.read_drop`` checks the drop's entry and size and picks its format's reader: ``csv_folder``,
``xlsx`` or ``json_drop``. What they hand back (``ParsedDrop``, ``FormTable``, ``DropRejected``) and build it
with is in ``drop``; csv and JSON are decoded by ``text_decoding``.

May import ``halfsky.contract`` and ``halfsky.config``.
"""

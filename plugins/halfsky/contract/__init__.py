"""What the reporting contract says, as code: forms and their fields, every rule with the words staff see,
how a cell is read, reporting periods and deadlines, id numbers, untrusted text, and the code lists
(``reference``).

Owns no I/O but reading the bundled code lists. Imports nothing else of halfsky: every other
sub-package builds on it.
"""

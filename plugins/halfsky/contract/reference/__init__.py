"""Reference data: the contract's code lists and the national division codes."""

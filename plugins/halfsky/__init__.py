"""halfsky (半边天): a data warehouse for women's federation program reports."""

__version__ = "0.1.0"

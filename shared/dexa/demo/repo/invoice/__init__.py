from .totals import line_total, invoice_total

__all__ = ["invoice_total", "line_total"]
